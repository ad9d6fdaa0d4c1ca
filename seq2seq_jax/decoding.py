"""Greedy and beam search as jitted `jax.lax.while_loop`s over a model's decode step.

Any seq2seq model plugs in by exposing two methods (transformer and RNN alike):
  start_decode(src, src_len, max_len) -> cache   (a pytree; every leaf batch-first)
  decode_step(cache, tokens [B], step) -> (logits [B,V], cache, attention [B,S])
and may name, in `static_cache_keys`, the cache entries that decoding never changes
(beam search does not reorder them).

Both searches stop early once every sequence (every beam) has finished.
Sequences hold the generated tokens including the final <eos>; positions after it
hold <eos> too.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

NEG_INF = -1.0e7
UNFINISHED_OFFSET = -1.0e6  # ranks unfinished beams below finished ones, above empty slots


def length_penalty(length, alpha: float):
  """GNMT length penalty ((5 + len) / 6) ** alpha; 1 when alpha == 0."""
  return ((5.0 + length) / 6.0) ** alpha


def greedy_pick(logits):
  """logits [B,V] -> (token [B] int32, its log-probability [B]): jnp.argmax's answer (the
  first maximum, as a max and a min over indices: XLA's CPU argmax, one two-output reduce,
  took 3x as long) and -log sum exp(logits - max), jax.nn.log_softmax's value there to the
  bit. Three passes over V where log_softmax then an argmax of it took five (bi-GRU greedy
  1.06-1.07x, same tokens); the argmax is of the logits themselves, so no near-tie is
  merged by subtracting the log-sum-exp first."""
  x = logits.astype(jnp.float32)
  top = x.max(axis=-1, keepdims=True)
  iota = jnp.arange(x.shape[-1], dtype=jnp.int32)
  token = jnp.min(jnp.where(x == top, iota, x.shape[-1]), axis=-1).astype(jnp.int32)
  return token, -jnp.log(jnp.sum(jnp.exp(x - top), axis=-1))


@functools.partial(jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id"))
def greedy_search(
  model: nn.Module, params: Any, src, src_len, *, max_len: int, bos_id: int, eos_id: int
) -> dict:
  """Returns tokens [B,L], lengths [B] (incl. <eos>), logprob [B], attention [B,L,S]."""
  b = src.shape[0]
  cache = model.apply(params, src, src_len, max_len, method="start_decode")
  init = dict(
    step=jnp.int32(0),
    last=jnp.full((b,), bos_id, jnp.int32),
    cache=cache,
    tokens=jnp.full((b, max_len), eos_id, jnp.int32),
    finished=jnp.zeros((b,), bool),
    lengths=jnp.zeros((b,), jnp.int32),
    logprob=jnp.zeros((b,)),
    attention=jnp.zeros((b, max_len, src.shape[1])),
  )

  def cond(s):
    return (s["step"] < max_len) & ~jnp.all(s["finished"])

  def body(s):
    logits, cache, attn = model.apply(
      params, s["cache"], s["last"], s["step"], method="decode_step"
    )
    nxt, step_logp = greedy_pick(logits)
    live = ~s["finished"]
    nxt = jnp.where(live, nxt, eos_id)
    return dict(
      step=s["step"] + 1,
      last=nxt,
      cache=cache,
      tokens=s["tokens"].at[:, s["step"]].set(nxt),
      finished=s["finished"] | (nxt == eos_id),
      lengths=s["lengths"] + live.astype(jnp.int32),
      logprob=s["logprob"] + jnp.where(live, step_logp, 0.0),
      attention=s["attention"].at[:, s["step"]].set(attn),
    )

  out = jax.lax.while_loop(cond, body, init)
  return {k: out[k] for k in ("tokens", "lengths", "logprob", "attention")}


# Gather mode of the search's index arithmetic, in bounds by construction: "clip" clamps the
# indices (free) where the default "fill" adds a bounds-check select over the gathered data.
IN_BOUNDS = "clip"


def _take(a, idx):
  """a [B,N,...], idx [B,M] -> a[b, idx[b, m], ...] of shape [B,M,...]."""
  idx = idx.reshape(idx.shape + (1,) * (a.ndim - 2))
  return jnp.take_along_axis(a, idx, axis=1, mode=IN_BOUNDS)


def _gather_beams(cache: dict, beam_idx, batch: int, beams: int, static_keys=()):
  """Picks beams [B,K'] out of each cache leaf shaped [B*K, ...].

  Entries under `static_keys` (the model's per-source constants: encoder memory, masks)
  are equal across one sentence's beams, so they are kept as they are, not copied.
  """

  rows = (jnp.arange(batch)[:, None] * beams + beam_idx).reshape(-1)  # [B*K'] rows of [B*K]
  gather = lambda x: jnp.take(x, rows, axis=0, mode=IN_BOUNDS)

  return {
    key: value if key in static_keys else jax.tree.map(gather, value)
    for key, value in cache.items()
  }


def candidate_block(vocab: int, target: int = 128) -> int:
  """Block size of beam search's pre-filter: the divisor of vocab in [target/2, 2 target]
  nearest target (blocks are then a free reshape of the logits), else target (the last
  block is short and the whole blocks are sliced out of the logits: a copy)."""
  fits = [d for d in range(target // 2, 2 * target + 1) if vocab % d == 0]
  return min(fits, key=lambda d: abs(d - target)) if fits else target


def top_candidates(alive_logp, logits, n: int, block: int | None = None):
  """The n best one-token extensions of each sentence's beams, exactly as a top_k over all
  K x V of them would pick them (ties to the lower beam, then the lower token).

  alive_logp [B,K], logits [B,K,V] -> (logp [B,n], beam [B,n], token [B,n]), best first;
  logp = alive_logp + log_softmax(logits).

  A block-max pre-filter, because XLA's CPU top_k over all K x V candidates cost as much as
  the transformer's output projection: split each beam's vocabulary into blocks of `block`
  tokens (default candidate_block(V)), keep the n blocks with the best maxima (the n best
  candidates lie in them), and run top_k over those n x block candidates only. The kept
  blocks are gathered in index order, so ties resolve as in the full top_k. A row's
  log-softmax is its logits minus a per-row constant, so blocks are ranked on the logits and
  only kept entries get it.
  """
  b, k, vocab = logits.shape
  block = block or candidate_block(vocab)
  full, nb = vocab // block, -(-vocab // block)  # whole blocks, all blocks (last one short)
  x = logits.astype(jnp.float32)
  block_max = [x[..., : full * block].reshape(b, k, full, block).max(axis=-1)]
  if nb > full:
    block_max.append(x[..., full * block :].max(axis=-1, keepdims=True))
  block_max = jnp.concatenate(block_max, axis=-1)  # [B,K,nb]
  row_max = block_max.max(axis=-1)  # [B,K]
  lse = jnp.log(jnp.sum(jnp.exp(x - row_max[..., None]), axis=-1))  # [B,K]
  # block j of [B,K*nb]: beam j // nb, tokens (j % nb) * block + [0, block)
  block_max = block_max.reshape(b, k * nb)
  # per block [B,K*nb]: its beam's alive_logp, logit max and log-sum-exp
  per_block = [jnp.repeat(a, nb, axis=1) for a in (alive_logp, row_max, lse)]

  def cand(v, alive, m, s):  # alive_logp + log_softmax(logits), rounded as jax.nn.log_softmax
    return alive + ((v - m) - s)

  _, blocks = jax.lax.top_k(cand(block_max, *per_block), min(n, k * nb))
  blocks = jnp.sort(blocks, axis=-1)  # index order, so ties resolve as in one top_k over all
  tok = (blocks % nb)[..., None] * block + jnp.arange(block)  # [B,n,block]
  flat = jnp.minimum(tok, vocab - 1) + (blocks // nb)[..., None] * vocab
  vals = jnp.take_along_axis(x.reshape(b, k * vocab), flat.reshape(b, -1), axis=1)
  kept = [jnp.take_along_axis(a, blocks, axis=1)[..., None] for a in per_block]
  vals = jnp.where(tok < vocab, cand(vals.reshape(tok.shape), *kept), -jnp.inf)
  top_logp, pick = jax.lax.top_k(vals.reshape(b, -1), n)
  blk = jnp.take_along_axis(blocks, pick // block, axis=1)
  return (
    top_logp,
    blk // nb,
    jnp.take_along_axis(tok.reshape(b, -1), pick, axis=1).astype(jnp.int32),
  )


@functools.partial(
  jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id", "beam_size", "alpha")
)
def beam_search(
  model: nn.Module,
  params: Any,
  src,
  src_len,
  *,
  max_len: int,
  bos_id: int,
  eos_id: int,
  beam_size: int,
  alpha: float = 0.0,
) -> dict:
  """Beam search with length penalty `alpha`.

  Returns, best first, tokens [B,K,L], lengths [B,K] (incl. <eos>), logprob
  [B,K] (sum of token log-probabilities) and score [B,K] = logprob /
  length_penalty(length, alpha). Stops when no live beam can beat the worst
  of the K finished ones, or after max_len steps; then unfinished beams fill
  only the slots that finished hypotheses left empty.
  """
  b, k = src.shape[0], beam_size
  # encode each sentence once, then give each of its K beams a copy of the cache
  cache = model.apply(params, src, src_len, max_len, method="start_decode")
  cache = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), cache)
  init = dict(
    step=jnp.int32(0),
    cache=cache,
    alive_seq=jnp.full((b, k, max_len), eos_id, jnp.int32),
    alive_logp=jnp.tile(jnp.array([0.0] + [NEG_INF] * (k - 1)), (b, 1)),
    fin_seq=jnp.full((b, k, max_len), eos_id, jnp.int32),
    fin_logp=jnp.zeros((b, k)),
    fin_score=jnp.full((b, k), NEG_INF),
    fin_len=jnp.zeros((b, k), jnp.int32),
  )

  def cond(s):
    best_alive = s["alive_logp"][:, 0] / length_penalty(max_len, alpha)
    worst_fin = s["fin_score"][:, -1]  # NEG_INF while fewer than K have finished
    return (s["step"] < max_len) & ~jnp.all(worst_fin > best_alive)

  def body(s):
    step = s["step"]
    last = jnp.where(
      step == 0, bos_id, jax.lax.dynamic_index_in_dim(s["alive_seq"], step - 1, 2, keepdims=False)
    )
    logits, cache, _ = model.apply(params, s["cache"], last.reshape(-1), step, method="decode_step")
    # 2K candidates: at most K end here, K stay alive
    top_logp, top_beam, top_tok = top_candidates(s["alive_logp"], logits.reshape(b, k, -1), 2 * k)
    top_seq = _take(s["alive_seq"], top_beam)
    top_seq = top_seq.at[:, :, step].set(top_tok)
    ended = top_tok == eos_id

    # Live beams: the best K candidates that did not emit <eos>.
    alive_logp, pick = jax.lax.top_k(jnp.where(ended, NEG_INF, top_logp), k)
    alive_seq = _take(top_seq, pick)
    cache = _gather_beams(
      cache, _take(top_beam, pick), b, k, getattr(model, "static_cache_keys", ())
    )

    # Finished: merge the candidates that emitted <eos> into the best K so far.
    length = step + 1
    new_score = jnp.where(ended, top_logp / length_penalty(length, alpha), NEG_INF)
    scores = jnp.concatenate([s["fin_score"], new_score], axis=1)
    fin_score, fpick = jax.lax.top_k(scores, k)
    merge = lambda old, new: _take(jnp.concatenate([old, new], axis=1), fpick)
    fin_seq = merge(s["fin_seq"], top_seq)
    fin_logp = merge(s["fin_logp"], top_logp)
    fin_len = merge(s["fin_len"], jnp.full((b, 2 * k), length, jnp.int32))
    return dict(
      step=step + 1,
      cache=cache,
      alive_seq=alive_seq,
      alive_logp=alive_logp,
      fin_seq=fin_seq,
      fin_logp=fin_logp,
      fin_score=fin_score,
      fin_len=fin_len,
    )

  s = jax.lax.while_loop(cond, body, init)
  # Finished hypotheses come first; live (unfinished, max_len reached) ones only
  # fill the slots that fewer than K finished hypotheses left empty.
  steps = s["step"]
  alive_score = s["alive_logp"] / length_penalty(steps, alpha)
  rank_key = jnp.concatenate([s["fin_score"], alive_score + UNFINISHED_OFFSET], axis=1)
  _, pick = jax.lax.top_k(rank_key, k)
  merge = lambda fin, alive: _take(jnp.concatenate([fin, alive], axis=1), pick)
  return dict(
    tokens=merge(s["fin_seq"], s["alive_seq"]),
    lengths=merge(s["fin_len"], jnp.full((b, k), steps, jnp.int32)),
    logprob=merge(s["fin_logp"], s["alive_logp"]),
    score=merge(s["fin_score"], alive_score),
  )
