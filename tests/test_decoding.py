"""Greedy and beam search against brute force on a Markov toy, and on the transformer."""

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import decoding
from seq2seq_jax.models.transformer import Transformer, TransformerConfig

BOS, EOS = 0, 1
PAD_ANY = 7  # any token: positions after the prefix must not matter


class MarkovToy(nn.Module):
  """Next-token log-probs depend only on the previous token: table [V, V]."""

  table: tuple

  def start_decode(self, src, src_len, max_len):
    return {"unused": jnp.zeros((src.shape[0], 3))}

  def decode_step(self, cache, tokens, step):
    logits = jnp.asarray(self.table)[tokens]
    return logits, cache, jnp.zeros((tokens.shape[0], 1))


def random_table(seed, vocab=5):
  rng = np.random.default_rng(seed)
  logp = np.log(rng.dirichlet(np.ones(vocab) * 0.5, size=vocab))
  logp[:, BOS] = -1e9  # never emit <sos>
  logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
  return tuple(map(tuple, logp.astype(np.float32)))


def brute_force(table, max_len):
  """All sequences ending in <eos> within max_len steps, best log-prob first."""
  t = np.asarray(table)
  best = []
  for n in range(1, max_len + 1):
    for body in itertools.product(range(2, t.shape[0]), repeat=n - 1):
      seq = (*body, EOS)
      prev, lp = BOS, 0.0
      for tok in seq:
        lp += t[prev, tok]
        prev = tok
      best.append((lp, seq))
  return sorted(best, reverse=True)


def run(search, table, **kw):
  src = jnp.zeros((1, 2), jnp.int32)
  return jax.device_get(
    search(MarkovToy(table), {}, src, jnp.array([2]), bos_id=BOS, eos_id=EOS, **kw)
  )


def test_beam_search_finds_the_exact_nbest_when_the_beam_is_exhaustive():
  for seed in range(5):
    table = random_table(seed)
    exact = brute_force(table, 4)
    # 27 beams hold every prefix of 3 free tokens: the search is exhaustive.
    out = run(decoding.beam_search, table, max_len=4, beam_size=27, alpha=0.0)
    for rank in range(5):
      lp, seq = exact[rank]
      n = int(out["lengths"][0, rank])
      assert tuple(out["tokens"][0, rank, :n]) == seq
      np.testing.assert_allclose(out["logprob"][0, rank], lp, rtol=1e-5)
    assert np.all(np.diff(out["score"][0, :5]) <= 0)  # best first


def test_greedy_falls_into_a_trap_that_beam_search_avoids():
  v = 4
  t = np.full((v, v), -1e9, np.float32)
  t[BOS, 2], t[BOS, 3] = np.log(0.6), np.log(0.4)  # greedy takes 2 ...
  t[2, EOS], t[2, 2] = np.log(0.3), np.log(0.7)  # ... whose continuations are weak
  t[3, EOS] = 0.0  # 0.4 * 1.0 beats 0.6 * 0.3 and 0.6 * 0.7 * ...
  t[EOS, EOS] = 0.0
  table = tuple(map(tuple, t))
  greedy = run(decoding.greedy_search, table, max_len=6)
  beam = run(decoding.beam_search, table, max_len=6, beam_size=2)
  assert greedy["tokens"][0, 0] == 2
  assert list(beam["tokens"][0, 0, :2]) == [3, EOS]
  np.testing.assert_allclose(beam["logprob"][0, 0], np.log(0.4), rtol=1e-6)
  assert beam["logprob"][0, 0] > greedy["logprob"][0]


def test_greedy_stops_and_pads_with_eos_and_counts_length():
  table = random_table(3)
  out = run(decoding.greedy_search, table, max_len=12)
  n = int(out["lengths"][0])
  toks = out["tokens"][0]
  assert toks[n - 1] == EOS and (toks[n:] == EOS).all() and EOS not in toks[: n - 1]
  t = np.asarray(table)
  prev, lp = BOS, 0.0
  for tok in toks[:n]:
    assert tok == np.argmax(t[prev])
    lp, prev = lp + t[prev, tok], tok
  np.testing.assert_allclose(out["logprob"][0], lp, rtol=1e-5)


def test_length_penalty_prefers_longer_hypotheses():
  v = 4
  t = np.full((v, v), -1e9, np.float32)
  t[BOS, EOS], t[BOS, 2] = np.log(0.5), np.log(0.5)
  t[2, 3], t[3, EOS] = 0.0, np.log(0.9)
  table = tuple(map(tuple, t))
  short = run(decoding.beam_search, table, max_len=5, beam_size=2, alpha=0.0)
  long = run(decoding.beam_search, table, max_len=5, beam_size=2, alpha=2.0)
  assert int(short["lengths"][0, 0]) == 1
  assert int(long["lengths"][0, 0]) == 3


def transformer_and_params():
  kw = dict(hid=32, enc_layers=2, dec_layers=2, heads=4, ff=48, dropout=0.0, max_len=32)
  cfg = TransformerConfig(src_vocab_size=11, tgt_vocab_size=13, **kw)
  model = Transformer(cfg)
  src = jnp.ones((1, 6), jnp.int32)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), src, jnp.array([6]), src)
  return model, params


def test_transformer_greedy_equals_uncached_argmax_decoding():
  model, params = transformer_and_params()
  src = jnp.array([[2, 5, 7, 9, 3, 1], [2, 4, 3, 1, 1, 1]], jnp.int32)
  src_len = jnp.array([5, 3])
  out = decoding.greedy_search(model, params, src, src_len, max_len=8, bos_id=BOS, eos_id=EOS)
  # The whole prefix recomputed each step, no cache: one fixed-shape teacher-forced pass
  # whose later (pad) positions the causal mask must keep out of position len(prefix) - 1.
  full_pass = jax.jit(lambda p, s, sl, t: model.apply(p, s, sl, t)[0])
  for b in range(2):
    prefix = [BOS]
    for _ in range(8):
      padded = jnp.array([prefix + [PAD_ANY] * (9 - len(prefix))])
      logits = full_pass(params, src[b : b + 1], src_len[b : b + 1], padded)
      prefix.append(int(jnp.argmax(logits[0, len(prefix) - 1])))
      if prefix[-1] == EOS:
        break
    n = int(out["lengths"][b])
    assert list(np.asarray(out["tokens"][b, :n])) == prefix[1:]


def test_transformer_beam_one_equals_greedy_and_beams_are_sorted():
  model, params = transformer_and_params()
  src = jnp.array([[2, 5, 7, 9, 3, 1], [2, 4, 3, 1, 1, 1]], jnp.int32)
  src_len = jnp.array([5, 3])
  kw = dict(max_len=10, bos_id=BOS, eos_id=EOS)
  greedy = decoding.greedy_search(model, params, src, src_len, **kw)
  beam1 = decoding.beam_search(model, params, src, src_len, beam_size=1, **kw)
  np.testing.assert_array_equal(beam1["tokens"][:, 0], greedy["tokens"])
  np.testing.assert_allclose(beam1["logprob"][:, 0], greedy["logprob"], rtol=1e-5)
  beam4 = decoding.beam_search(model, params, src, src_len, beam_size=4, **kw)
  assert np.all(np.diff(np.asarray(beam4["score"]), axis=1) <= 1e-6)
  assert np.all(beam4["logprob"][:, 0] >= greedy["logprob"] - 1e-5)


def test_greedy_pick_is_the_first_argmax_and_log_softmax_there():
  ties = jax.random.randint(jax.random.PRNGKey(0), (64, 300), 0, 5).astype(jnp.float32)
  spread = 30.0 * jax.random.normal(jax.random.PRNGKey(1), (64, 8003))
  for x in (ties, spread, spread.astype(jnp.bfloat16)):
    token, logp = decoding.greedy_pick(x)
    np.testing.assert_array_equal(np.asarray(token), np.asarray(jnp.argmax(x, axis=-1)))
    want = jnp.take_along_axis(jax.nn.log_softmax(x.astype(jnp.float32)), token[:, None], -1)
    np.testing.assert_array_equal(np.asarray(logp), np.asarray(want[:, 0]))


def _full_top_k(alive_logp, logits, n):
  """The definition top_candidates must reproduce: one top_k over all K x V candidates."""
  b, k, vocab = logits.shape
  cand = (alive_logp[..., None] + jax.nn.log_softmax(logits)).reshape(b, k * vocab)
  logp, idx = jax.lax.top_k(cand, n)
  return logp, idx // vocab, idx % vocab


def test_top_candidates_equals_one_top_k_over_all_beams_with_ties_and_ragged_blocks():
  rng = np.random.default_rng(0)
  b, k, n = 3, 4, 8
  cases = []
  for vocab in (5, 37, 300):
    cases.append(rng.normal(size=(b, k, vocab)))
    # heavy ties: few distinct logits, and beams that are copies of each other
    tied = rng.integers(0, 3, size=(b, k, vocab)).astype(np.float64)
    tied[:, 1] = tied[:, 0]
    cases.append(tied)
  for logits in cases:
    logits = jnp.asarray(logits, jnp.float32)
    for alive in (
      jnp.asarray(rng.normal(size=(b, k)), jnp.float32),
      jnp.tile(jnp.array([0.0] + [decoding.NEG_INF] * (k - 1)), (b, 1)),  # step 0
      jnp.zeros((b, k)),  # equal beams: ties across beams
    ):
      want = _full_top_k(alive, logits, n)
      for block in (None, 1, 4, 16, 128):  # ragged last blocks included
        got = decoding.top_candidates(alive, logits, n, block=block)
        for g, w in zip(got, want):
          np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
