"""RNN encoder-decoder translators: the PyTorch tutorial's GRU (+ attention) and the bi-GRU
with additive attention of the PaddlePaddle book, as one configurable module.

Encoder: embedding (or one-hot, `embed=0`) -> masked multi-layer (bi)RNN (models/rnn.py).
Bridge to the decoder's initial state, per decoder layer, from the encoder's final state
(the backward direction's when bidirectional: the state at the first word, as the book's
`first_seq(backward)`): `copy` it, `tanh` (tanh of a bias-free Linear of it) or `zeros`.

Decoder step, by `attention` (y: previous token, h: decoder state, m: encoder outputs):
  none      x = relu(emb(y)); h = RNN(x, h); out(h)                       (tutorial DecoderRNN)
  fixed     e = dropout(emb(y)); a = softmax(attn([e; h])) over the source's slots
            (`fixed_slots="all"`: over all max_length slots, the tutorial's exact function);
            x = relu(attn_combine([e; a.m])); h = RNN(x, h); out(h)    (tutorial AttnDecoderRNN)
  additive  a = Bahdanau(h_prev, m); h = RNN([e; a.m], h); out(h)       (the book / Bahdanau)
  dot, scaled_dot, general  h = RNN(e, h); a = Luong(h, m); out(tanh(W [a.m; h]))  (Luong)
`out` gives logits (the tutorial's log-softmax is applied by the loss and the searches).

Training (`__call__`) runs the steps inside `nn.scan`. Teacher forcing feeds the gold
token with probability p and the model's own argmax otherwise; the coin is drawn once
per sequence (`coin="sequence"`, the tutorial) or per step (`coin="step"`). Scheduled
sampling (Bengio et al. 2015) decays p with the training step: `linear` 1 - step/k or
`inverse_sigmoid` k / (k + exp(step/k)), floored at `teacher_forcing`. Coins and dropout
draw from the "dropout" rng stream.

Decoding interface shared with the transformer (see decoding.py):
  start_decode(src, src_len, max_len) -> cache    (every leaf has batch first)
  decode_step(cache, tokens [B], step) -> (logits [B,V], cache, attention [B,S])
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import rnn
from seq2seq_jax.models.attention import LUONG, make_attention
from seq2seq_jax.models.layers import Dropout, dense

ATTENTIONS = ("none", "fixed", "additive", *LUONG)


@dataclasses.dataclass(frozen=True)
class RNNSeq2SeqConfig:
  src_vocab_size: int
  tgt_vocab_size: int
  embed: int = 256  # 0: one-hot token vectors (the char toy)
  hidden: int = 256
  cell: str = "gru"  # srn | gru | lstm, encoder and decoder
  activation: str = "tanh"  # srn only
  enc_layers: int = 1
  dec_layers: int = 1
  bidirectional: bool = False
  attention: str = "fixed"  # none | fixed | additive | dot | scaled_dot | general
  max_length: int = 10  # slots of the fixed-length attention
  fixed_slots: str = "source"  # its softmax over: source (real slots) | all (the tutorial)
  bridge: str = "copy"  # copy | tanh | zeros
  dropout: float = 0.1  # decoder embedding (the tutorial's dropout_p) and between layers
  enc_dropout: float = 0.0  # encoder embedding and between layers
  teacher_forcing: float = 1.0  # p(gold input); the floor of a schedule
  coin: str = "sequence"  # sequence (the tutorial) | step
  schedule: str = "constant"  # constant | linear | inverse_sigmoid
  schedule_steps: float = 1000.0  # k of the schedule
  unroll: int = 1  # time steps per scan iteration (CPU: ~2x faster at 4-10, more compile time)
  dropout_rng: str = "threefry"  # dropout masks: threefry (nn.Dropout's) | hash (layers.Dropout)

  def validate(self) -> None:
    choices = dict(
      cell=tuple(rnn.CELLS),
      attention=ATTENTIONS,
      bridge=("copy", "tanh", "zeros"),
      fixed_slots=("source", "all"),
      coin=("sequence", "step"),
      schedule=("constant", "linear", "inverse_sigmoid"),
      dropout_rng=("threefry", "hash"),
    )
    for key, options in choices.items():
      if getattr(self, key) not in options:
        raise ConfigError(
          f"unknown model.{key} {getattr(self, key)!r}; use one of {', '.join(options)}."
        )


def _h(carry):
  """The hidden state of a cell's carry (an LSTM carries (h, c))."""
  return carry[0] if isinstance(carry, tuple) else carry


def _with_h(carry_like, h):
  """A carry shaped like `carry_like` whose hidden state is h (an LSTM's cell state 0)."""
  return (h, jnp.zeros_like(h)) if isinstance(carry_like, tuple) else h


class RNNSeq2Seq(nn.Module):
  """Encoder-decoder RNN; see the module docstring. Masks come from src_len."""

  cfg: RNNSeq2SeqConfig
  uses_step: ClassVar[bool] = True  # __call__ takes the training step (scheduled sampling)

  def setup(self):
    c = self.cfg
    embed = lambda vocab, name: (
      nn.Embed(vocab, c.embed, name=name, embedding_init=nn.initializers.normal(1.0))
      if c.embed
      else None
    )  # torch.nn.Embedding's N(0, 1)
    self.src_embed = embed(c.src_vocab_size, "src_embed")
    self.tgt_embed = embed(c.tgt_vocab_size, "tgt_embed")
    self.encoder = rnn.RNN(
      c.cell,
      c.hidden,
      c.enc_layers,
      c.bidirectional,
      c.activation,
      c.enc_dropout,
      c.unroll,
      c.dropout_rng,
      name="encoder",
    )
    self.enc_drop = Dropout(c.enc_dropout, c.dropout_rng)
    self.drop = Dropout(c.dropout, c.dropout_rng)
    cell = rnn.cell_class(c.cell)
    kwargs = rnn.cell_kwargs(c.cell, c.hidden, c.activation)
    self.cells = [cell(**kwargs, name=f"dec_l{k}") for k in range(c.dec_layers)]
    if c.bridge == "tanh":
      self.bridges = [
        dense(c.hidden, c.hidden, use_bias=False, name=f"bridge_l{k}") for k in range(c.dec_layers)
      ]
    emb = c.embed or c.tgt_vocab_size
    memory = c.hidden * (2 if c.bidirectional else 1)
    if c.attention != "none":
      query = {"fixed": emb + c.hidden}.get(c.attention, c.hidden)
      self.attention = make_attention(
        c.attention,
        query_features=query,
        memory_features=memory,
        max_length=c.max_length,
        all_slots=c.fixed_slots == "all",
      )
    if c.attention == "fixed":
      self.attn_combine = dense(c.hidden, emb + memory, name="attn_combine")
    if c.attention in LUONG:
      self.combine = dense(c.hidden, memory + c.hidden, name="combine")
    self.out = dense(c.tgt_vocab_size, c.hidden, name="out")

  # -- encoder -------------------------------------------------------------

  def _embed(self, table, tokens, vocab: int):
    return table(tokens) if table is not None else jax.nn.one_hot(tokens, vocab)

  def encode(self, src, src_len, train: bool = False):
    """src [B,S], src_len [B] -> (memory [B,S,H*dirs], mask [B,S], decoder carries)."""
    c = self.cfg
    mask = jnp.arange(src.shape[1])[None, :] < src_len[:, None]
    x = self.enc_drop(self._embed(self.src_embed, src, c.src_vocab_size), deterministic=not train)
    memory, finals = self.encoder(x, mask, train=train)
    return memory, mask, self._bridge(finals, src.shape[0])

  def _bridge(self, finals: list[Any], batch: int) -> tuple:
    c = self.cfg
    dirs = 2 if c.bidirectional else 1
    carries = []
    for k in range(c.dec_layers):
      last = finals[min(k, c.enc_layers - 1) * dirs + dirs - 1]  # backward when bidirectional
      if c.bridge == "copy":
        carries.append(last)
      elif c.bridge == "tanh":
        carries.append(_with_h(last, jnp.tanh(self.bridges[k](_h(last)))))
      else:
        carries.append(jax.tree.map(jnp.zeros_like, last))
    return tuple(carries)

  # -- decoder -------------------------------------------------------------

  def _step(self, carry: tuple, tokens, memory, keys, mask, train: bool):
    """One decoder step: tokens [B] -> (features [B,H] for `out`, attention [B,S], carry)."""
    c = self.cfg
    e = self.drop(self._embed(self.tgt_embed, tokens, c.tgt_vocab_size), deterministic=not train)
    attn = jnp.zeros(mask.shape, jnp.float32)
    if c.attention == "none":
      x = nn.relu(e)
    elif c.attention == "fixed":
      ctx, attn = self.attention(jnp.concatenate([e, _h(carry[-1])], -1), memory, keys, mask)
      x = nn.relu(self.attn_combine(jnp.concatenate([e, ctx], -1)))
    elif c.attention == "additive":
      ctx, attn = self.attention(_h(carry[-1]), memory, keys, mask)
      x = jnp.concatenate([e, ctx], -1)
    else:
      x = e
    new = []
    for k, cell in enumerate(self.cells):
      if k:
        x = self.drop(x, deterministic=not train)
      layer_carry, x = cell.step(carry[k], x)
      new.append(layer_carry)
    if c.attention in LUONG:
      ctx, attn = self.attention(x, memory, keys, mask)
      x = jnp.tanh(self.combine(jnp.concatenate([ctx, x], -1)))
    return x, attn, tuple(new)

  def teacher_forcing_prob(self, step):
    """p(feed the gold token) at training step `step` (a scalar)."""
    c = self.cfg
    s = jnp.asarray(0 if step is None else step, jnp.float32)
    if c.schedule == "linear":
      p = 1.0 - s / c.schedule_steps
    elif c.schedule == "inverse_sigmoid":
      k = c.schedule_steps
      p = k / (k + jnp.exp(jnp.minimum(s / k, 80.0)))
    else:
      return jnp.float32(c.teacher_forcing)
    return jnp.maximum(p, c.teacher_forcing)

  def _coins(self, shape: tuple[int, int], step):
    """[B,T] bool, True where the gold token is fed."""
    p = self.teacher_forcing_prob(step)
    rng = self.make_rng("dropout")
    if self.cfg.coin == "sequence":
      return jnp.broadcast_to(jax.random.bernoulli(rng, p, (shape[0], 1)), shape)
    return jax.random.bernoulli(rng, p, shape)

  def __call__(self, src, src_len, tgt_in, train: bool = False, step=None):
    """Logits [B,T,V] and attention [B,T,S] for tgt_in [B,T] (<sos> y), teacher-forced
    with probability p (always when not training)."""
    c = self.cfg
    memory, mask, carry = self.encode(src, src_len, train)
    keys = self.attention.prepare(memory) if c.attention != "none" else None
    feedback = train and (c.teacher_forcing < 1.0 or c.schedule != "constant")
    coins = self._coins(tgt_in.shape, step) if feedback else jnp.ones(tgt_in.shape, bool)

    def body(mdl, state, xs, memory, keys, mask):
      carry, prev = state
      gold, coin = xs
      token = jnp.where(coin, gold, prev)
      feats, attn, carry = mdl._step(carry, token, memory, keys, mask, train)
      if not feedback:  # logits are computed after the scan, in one matmul
        return (carry, prev), (feats, attn)
      logits = mdl.out(feats)
      return (carry, jnp.argmax(logits, -1).astype(prev.dtype)), (logits, attn)

    scan = nn.scan(
      body,
      variable_broadcast="params",
      split_rngs={"params": False, "dropout": True},
      in_axes=(1, nn.broadcast, nn.broadcast, nn.broadcast),
      out_axes=1,
      unroll=c.unroll,
    )
    _, (ys, attention) = scan(self, (carry, tgt_in[:, 0]), (tgt_in, coins), memory, keys, mask)
    return (ys if feedback else self.out(ys)), attention

  static_cache_keys = ("mask", "memory", "keys")  # per-source: decode_step never changes them

  def start_decode(self, src, src_len, max_len: int):
    """Encodes once; the cache holds the decoder state, memory, attention keys and mask."""
    memory, mask, carry = self.encode(src, src_len)
    cache = dict(carry=carry, mask=mask)
    if self.cfg.attention != "none":
      cache.update(memory=memory, keys=self.attention.prepare(memory))
    return cache

  def decode_step(self, cache, tokens, step):
    """tokens [B] -> (logits [B,V], cache, attention [B,S])."""
    feats, attn, carry = self._step(
      cache["carry"], tokens, cache.get("memory"), cache.get("keys"), cache["mask"], False
    )
    return self.out(feats), dict(cache, carry=carry), attn
