"""The tutorial transformer (Multi30k de->en, "Attention is all you need") in Flax linen.

Defaults reproduce the tutorial: learned positions, token embeddings scaled by
sqrt(hid), post-LN residual blocks in which one LayerNorm instance is shared by
all sublayers of a layer, attention energies masked with -1e10, xavier-uniform
matrices. Switches: `norm="pre"`, `shared_layer_norm=False`, `positions="sinusoidal"`.

Packed batches (data/packing.py, training only): `__call__` with `segments=(src_segment,
tgt_segment)` and `positions=(src_position, tgt_position)` ([B,S], [B,T]; segment 1, 2, ...
per pair, 0 padding; positions restart at 0 per pair) masks encoder self-attention,
decoder causal self-attention and cross-attention to the query's own segment and looks
the learned (or sinusoidal) positions up per segment, so each pair's logits are those it
gets alone.

Decoding interface shared with the RNN models (see decoding.py):
  start_decode(src, src_len, max_len) -> cache    (every leaf has batch first)
  decode_step(cache, tokens [B], step) -> (logits [B, V], cache, attention [B, S])
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax.kernels import layouts
from seq2seq_jax.models.layers import Dropout, dense

NEG_INF_ENERGY = -1e10  # the tutorial's masked_fill value


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  src_vocab_size: int
  tgt_vocab_size: int
  hid: int = 256
  enc_layers: int = 3
  dec_layers: int = 3
  heads: int = 8
  ff: int = 512
  dropout: float = 0.1
  max_len: int = 100
  positions: str = "learned"  # "learned" | "sinusoidal"
  norm: str = "post"  # "post" | "pre"
  shared_layer_norm: bool = True
  dropout_rng: str = "hash"  # "hash" (fast counter hash) | "threefry" (nn.Dropout's)


def layer_norm(name: str) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=1e-5, name=name)  # torch's eps


def sinusoidal_table(max_len: int, hid: int) -> np.ndarray:
  """[max_len, hid] sin/cos positions of Vaswani et al."""
  pos = np.arange(max_len)[:, None]
  div = np.exp(np.arange(0, hid, 2) * (-math.log(10000.0) / hid))
  table = np.zeros((max_len, hid), np.float32)
  table[:, 0::2] = np.sin(pos * div)
  table[:, 1::2] = np.cos(pos * div)
  return table


class MultiHeadAttention(nn.Module):
  """fc_q/fc_k/fc_v/fc_o attention; energies / sqrt(head_dim), masked with -1e10."""

  hid: int
  heads: int
  dropout: float
  dropout_rng: str = "hash"

  def setup(self):
    self.fc_q = dense(self.hid, self.hid, xavier=True)
    self.fc_k = dense(self.hid, self.hid, xavier=True)
    self.fc_v = dense(self.hid, self.hid, xavier=True)
    self.fc_o = dense(self.hid, self.hid, xavier=True)
    self.drop = Dropout(self.dropout, self.dropout_rng)

  def _split(self, x):  # [B, L, hid] -> [B, L, heads, head_dim]
    return x.reshape(x.shape[:2] + (self.heads, self.hid // self.heads))

  def project_q(self, x):
    return self._split(self.fc_q(x))

  def project_kv(self, x):
    """x [B,K,hid] -> keys, values [B,h,K,d]: head-major, the layout attention's batched
    matmuls read, so a decoding cache kept in it is not transposed again at every step."""
    return tuple(self._split(fc(x)).transpose(0, 2, 1, 3) for fc in (self.fc_k, self.fc_v))

  def attend(self, q, k, v, mask, deterministic: bool):
    """q [B,Q,h,d], k/v [B,h,K,d], mask broadcastable to [B,h,Q,K] -> ([B,Q,hid], [B,h,Q,K]).

    The batched matmuls are `kernels.layouts`' (their gradients as plain batched matmuls)."""
    energy = layouts.scores(q.transpose(0, 2, 1, 3), k) / jnp.sqrt(jnp.float32(q.shape[-1]))
    energy = jnp.where(mask, energy, NEG_INF_ENERGY)
    attention = jax.nn.softmax(energy, axis=-1)
    x = layouts.matmul(self.drop(attention, deterministic=deterministic), v).transpose(0, 2, 1, 3)
    return self.fc_o(x.reshape(x.shape[:2] + (self.hid,))), attention

  def __call__(self, query, key_value, mask, deterministic: bool):
    k, v = self.project_kv(key_value)
    return self.attend(self.project_q(query), k, v, mask, deterministic)


class PositionwiseFeedforward(nn.Module):
  hid: int
  ff: int
  dropout: float
  dropout_rng: str = "hash"

  def setup(self):
    self.fc_1 = dense(self.ff, self.hid, xavier=True)
    self.fc_2 = dense(self.hid, self.ff, xavier=True)
    self.drop = Dropout(self.dropout, self.dropout_rng)

  def __call__(self, x, deterministic: bool):
    return self.fc_2(self.drop(nn.relu(self.fc_1(x)), deterministic=deterministic))


class _Layer(nn.Module):
  """Residual sublayer plumbing shared by encoder and decoder layers."""

  cfg: TransformerConfig

  def norm(self, name: str):
    # The tutorial's layer owns one `layer_norm` used after every sublayer.
    return getattr(self, "layer_norm" if self.cfg.shared_layer_norm else name)

  def residual(self, x, fn, norm_name: str, deterministic: bool):
    norm = self.norm(norm_name)
    if self.cfg.norm == "pre":
      out, aux = fn(norm(x))
      return x + self.drop(out, deterministic=deterministic), aux
    out, aux = fn(x)
    return norm(x + self.drop(out, deterministic=deterministic)), aux

  def make_norms(self, names):
    if self.cfg.shared_layer_norm:
      self.layer_norm = layer_norm("layer_norm")
    else:
      for n in names:
        setattr(self, n, layer_norm(n))


class EncoderLayer(_Layer):
  def setup(self):
    c = self.cfg
    self.self_attention = MultiHeadAttention(c.hid, c.heads, c.dropout, c.dropout_rng)
    self.positionwise_feedforward = PositionwiseFeedforward(c.hid, c.ff, c.dropout, c.dropout_rng)
    self.drop = Dropout(c.dropout, c.dropout_rng)
    self.make_norms(("self_attn_layer_norm", "ff_layer_norm"))

  def __call__(self, x, mask, deterministic: bool):
    x, _ = self.residual(
      x,
      lambda h: self.self_attention(h, h, mask, deterministic),
      "self_attn_layer_norm",
      deterministic,
    )
    x, _ = self.residual(
      x,
      lambda h: (self.positionwise_feedforward(h, deterministic), None),
      "ff_layer_norm",
      deterministic,
    )
    return x


class DecoderLayer(_Layer):
  def setup(self):
    c = self.cfg
    self.self_attention = MultiHeadAttention(c.hid, c.heads, c.dropout, c.dropout_rng)
    self.encoder_attention = MultiHeadAttention(c.hid, c.heads, c.dropout, c.dropout_rng)
    self.positionwise_feedforward = PositionwiseFeedforward(c.hid, c.ff, c.dropout, c.dropout_rng)
    self.drop = Dropout(c.dropout, c.dropout_rng)
    self.make_norms(("self_attn_layer_norm", "enc_attn_layer_norm", "ff_layer_norm"))

  def __call__(
    self, y, self_mask, cross_kv, cross_mask, deterministic: bool, self_cache=None, step=None
  ):
    """One decoder layer.

    y [B,T,hid]; cross_kv = projected encoder keys/values [B,h,S,d] each.
    With `self_cache` ({"k","v"} [B,h,L,d]) the new keys/values of y are written
    at `step` and attention runs over the cache (autoregressive decoding).
    Returns (y, cross attention [B,h,T,S], new self cache or None).
    """
    new_cache = None

    def self_attend(h):
      nonlocal new_cache
      q = self.self_attention.project_q(h)
      k, v = self.self_attention.project_kv(h)
      if self_cache is not None:
        k = jax.lax.dynamic_update_slice_in_dim(self_cache["k"], k, step, axis=2)
        v = jax.lax.dynamic_update_slice_in_dim(self_cache["v"], v, step, axis=2)
        new_cache = {"k": k, "v": v}
      return self.self_attention.attend(q, k, v, self_mask, deterministic)

    def cross_attend(h):
      q = self.encoder_attention.project_q(h)
      return self.encoder_attention.attend(q, *cross_kv, cross_mask, deterministic)

    y, _ = self.residual(y, self_attend, "self_attn_layer_norm", deterministic)
    y, attention = self.residual(y, cross_attend, "enc_attn_layer_norm", deterministic)
    y, _ = self.residual(
      y,
      lambda h: (self.positionwise_feedforward(h, deterministic), None),
      "ff_layer_norm",
      deterministic,
    )
    return y, attention, new_cache


class Embedder(nn.Module):
  """Token embedding * sqrt(hid) + position embedding, then dropout."""

  cfg: TransformerConfig
  vocab_size: int

  def setup(self):
    c = self.cfg
    init = nn.initializers.xavier_uniform()
    self.tok_embedding = nn.Embed(self.vocab_size, c.hid, embedding_init=init)
    if c.positions == "learned":
      self.pos_embedding = nn.Embed(c.max_len, c.hid, embedding_init=init)
    self.drop = Dropout(c.dropout, c.dropout_rng)

  def __call__(self, tokens, positions, deterministic: bool):
    c = self.cfg
    if c.positions == "learned":
      pos = self.pos_embedding(positions)
    else:
      pos = jnp.asarray(sinusoidal_table(c.max_len, c.hid))[positions]
    x = self.tok_embedding(tokens) * jnp.sqrt(jnp.float32(c.hid)) + pos
    return self.drop(x, deterministic=deterministic)


class Encoder(nn.Module):
  cfg: TransformerConfig

  def setup(self):
    c = self.cfg
    self.embed = Embedder(c, c.src_vocab_size)
    self.layers = [EncoderLayer(c) for _ in range(c.enc_layers)]
    if c.norm == "pre":
      self.final_layer_norm = layer_norm("final_layer_norm")

  def __call__(self, src, mask, deterministic: bool, positions=None):
    """src [B,S] int, mask broadcastable to [B,h,S,S] bool, positions [B,S] (None:
    0..S-1) -> [B,S,hid]."""
    positions = jnp.arange(src.shape[1])[None] if positions is None else positions
    x = self.embed(src, positions, deterministic)
    for layer in self.layers:
      x = layer(x, mask, deterministic)
    return self.final_layer_norm(x) if self.cfg.norm == "pre" else x


class Decoder(nn.Module):
  cfg: TransformerConfig

  def setup(self):
    c = self.cfg
    self.embed = Embedder(c, c.tgt_vocab_size)
    self.layers = [DecoderLayer(c) for _ in range(c.dec_layers)]
    if c.norm == "pre":
      self.final_layer_norm = layer_norm("final_layer_norm")
    self.fc_out = dense(c.tgt_vocab_size, c.hid, xavier=True)

  def cross_kv(self, memory):
    return [layer.encoder_attention.project_kv(memory) for layer in self.layers]

  def __call__(
    self,
    tgt,
    positions,
    self_mask,
    cross_kv,
    cross_mask,
    deterministic: bool,
    self_caches=None,
    step=None,
    features_only: bool = False,
  ):
    y = self.embed(tgt, positions, deterministic)
    new_caches, attention = [], None
    for i, layer in enumerate(self.layers):
      cache = None if self_caches is None else self_caches[i]
      y, attention, cache = layer(y, self_mask, cross_kv[i], cross_mask, deterministic, cache, step)
      new_caches.append(cache)
    if self.cfg.norm == "pre":
      y = self.final_layer_norm(y)
    return (y if features_only else self.fc_out(y)), attention, new_caches


def segment_mask(q_segment, k_segment):
  """[B,Q], [B,K] segment ids -> [B,1,Q,K]: a query sees the keys of its own segment
  (padding, segment 0, sees nothing and is seen by nothing)."""
  same = q_segment[:, :, None] == k_segment[:, None, :]
  return (same & (k_segment[:, None, :] > 0))[:, None]


class Transformer(nn.Module):
  """Encoder-decoder transformer. Masks come from lengths (pads sit at the end), or
  from segment ids in a packed batch."""

  cfg: TransformerConfig

  def setup(self):
    self.encoder = Encoder(self.cfg)
    self.decoder = Decoder(self.cfg)

  def encode(self, src, src_len, train: bool = False):
    src_mask = jnp.arange(src.shape[1])[None, :] < src_len[:, None]
    return self.encoder(src, src_mask[:, None, None, :], not train), src_mask

  def __call__(
    self,
    src,
    src_len,
    tgt_in,
    train: bool = False,
    segments=None,
    positions=None,
    features_only: bool = False,
  ):
    """Teacher-forced logits [B,T,V] and last layer's cross attention [B,h,T,S].

    segments, positions: None, or a packed batch's (src [B,S], tgt [B,T]) segment ids and
    per-segment positions (module docstring); src_len is then not read.
    features_only: the decoder's output [B,T,hid] instead of the logits, for a loss that
    applies the head itself (`head_params`; `base.head_sequence_loss`).
    """
    t = tgt_in.shape[1]
    causal = jnp.tril(jnp.ones((t, t), bool))[None, None]
    if segments is None:
      memory, src_mask = self.encode(src, src_len, train)
      self_mask, cross_mask = causal, src_mask[:, None, None, :]
      tgt_positions = jnp.arange(t)[None]
    else:
      (src_seg, tgt_seg), (src_pos, tgt_pos) = segments, positions
      memory = self.encoder(src, segment_mask(src_seg, src_seg), not train, src_pos)
      self_mask = causal & segment_mask(tgt_seg, tgt_seg)
      cross_mask, tgt_positions = segment_mask(tgt_seg, src_seg), tgt_pos
    logits, attention, _ = self.decoder(
      tgt_in,
      tgt_positions,
      self_mask,
      self.decoder.cross_kv(memory),
      cross_mask,
      not train,
      features_only=features_only,
    )
    return logits, attention

  @staticmethod
  def head_params(params) -> tuple:
    """The output head's (kernel [hid,V], bias [V]) in a params tree."""
    head = params["params"]["decoder"]["fc_out"]
    return head["kernel"], head["bias"]

  static_cache_keys = ("src_mask", "cross_kv")  # per-source: decode_step never changes them

  def start_decode(self, src, src_len, max_len: int):
    """Encodes once and allocates self-attention caches for `max_len` steps."""
    memory, src_mask = self.encode(src, src_len)
    c = self.cfg
    b = src.shape[0]
    shape = (b, c.heads, max_len, c.hid // c.heads)
    return dict(
      src_mask=src_mask,
      cross_kv=self.decoder.cross_kv(memory),
      self_kv=[{"k": jnp.zeros(shape), "v": jnp.zeros(shape)} for _ in range(c.dec_layers)],
    )

  def decode_step(self, cache, tokens, step):
    """tokens [B] at position `step` -> (logits [B,V], cache, head-mean cross attention [B,S])."""
    max_len = cache["self_kv"][0]["k"].shape[2]
    self_mask = (jnp.arange(max_len) <= step)[None, None, None, :]
    logits, attention, self_kv = self.decoder(
      tokens[:, None],
      jnp.full((1, 1), step),
      self_mask,
      cache["cross_kv"],
      cache["src_mask"][:, None, None, :],
      True,
      cache["self_kv"],
      step,
    )
    cache = dict(cache, self_kv=self_kv)
    return logits[:, 0], cache, attention[:, :, 0].mean(axis=1)
