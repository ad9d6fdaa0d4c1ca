"""Attention for the RNN decoders, all masked: padded source slots get weight exactly 0.

  fixed     the PyTorch tutorial's: weights = softmax(Linear(query) over `max_length`
            encoder slots), query = concat(embedded, hidden); no keys involved.
            `all_slots=True` is the tutorial's exact function: the softmax runs over
            all `max_length` slots, those past the source holding zero vectors (so
            the weights on the real slots sum to less than 1)
  additive  Bahdanau: score = v . tanh(W_q query + W_k memory)
  dot       Luong: score = query . memory
  scaled_dot  score = query . memory / sqrt(M) (Vaswani et al.'s scaling, one head)
  general   Luong: score = query . (W memory)

Every module has `prepare(memory) -> keys` (computed once per source, so decoding
projects the memory once) and `__call__(query, memory, keys, mask) -> (context
[B,M], weights [B,S])` for query [B,Q], memory [B,S,M], mask [B,S] bool.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models.layers import dense

NEG_INF = -1e9


def masked_softmax(scores, mask):
  """scores [B,S], mask [B,S] -> weights [B,S] summing to 1 over the real slots."""
  return jax.nn.softmax(jnp.where(mask, scores, NEG_INF), axis=-1)


def attend(scores, memory, mask):
  weights = masked_softmax(scores, mask)
  return jnp.einsum("bs,bsm->bm", weights, memory), weights


class FixedLengthAttention(nn.Module):
  """The tutorial's `attn` Linear: one score per encoder slot, up to `max_length` slots."""

  query_features: int
  max_length: int
  all_slots: bool = False  # softmax over all max_length slots (the tutorial), not the source's

  def setup(self):
    self.attn = dense(self.max_length, self.query_features, name="attn")

  def prepare(self, memory):
    return None

  def __call__(self, query, memory, keys, mask):
    s = memory.shape[1]
    if s > self.max_length:
      raise ConfigError(
        f"the fixed-length attention has {self.max_length} slots but a source "
        f"batch is padded to {s}: raise model.max_length or lower "
        "data.bucket_edges."
      )
    scores = self.attn(query)  # [B, max_length]
    if self.all_slots:  # the slots past the source (and pads) hold zero vectors: weight 0 here
      weights = jax.nn.softmax(scores, axis=-1)[:, :s] * mask
      return jnp.einsum("bs,bsm->bm", weights, memory), weights
    return attend(scores[:, :s], memory, mask)


class AdditiveAttention(nn.Module):
  """Bahdanau et al. (2015): score = v . tanh(W_q q + W_k m)."""

  query_features: int
  memory_features: int
  features: int

  def setup(self):
    self.w_q = dense(self.features, self.query_features, use_bias=False, name="w_q")
    self.w_k = dense(self.features, self.memory_features, use_bias=False, name="w_k")
    self.v = dense(1, self.features, use_bias=False, name="v")

  def prepare(self, memory):
    return self.w_k(memory)  # [B,S,A]

  def __call__(self, query, memory, keys, mask):
    scores = self.v(jnp.tanh(keys + self.w_q(query)[:, None]))[..., 0]
    return attend(scores, memory, mask)


LUONG = ("dot", "scaled_dot", "general")  # the BilinearAttention kinds


class BilinearAttention(nn.Module):
  """Luong et al. (2015): `dot` score = q . m; `general` score = q . (W m); `scaled_dot`
  score = q . m / sqrt(M), the dot score at a temperature that does not grow with M."""

  query_features: int
  memory_features: int
  general: bool = True
  scaled: bool = False

  def setup(self):
    if self.general:
      self.w = dense(self.query_features, self.memory_features, use_bias=False, name="w")
    elif self.query_features != self.memory_features:
      raise ConfigError(
        f"dot attention needs equal query and memory sizes, got "
        f"{self.query_features} and {self.memory_features} (a bidirectional "
        "encoder doubles the memory): use model.attention=general."
      )

  def prepare(self, memory):
    return self.w(memory) if self.general else memory

  def __call__(self, query, memory, keys, mask):
    scores = jnp.einsum("bq,bsq->bs", query, keys)
    if self.scaled:
      scores = scores / jnp.sqrt(jnp.asarray(keys.shape[-1], scores.dtype))
    return attend(scores, memory, mask)


def make_attention(
  kind: str,
  *,
  query_features: int,
  memory_features: int,
  max_length: int,
  all_slots: bool = False,
  name: str = "attention",
) -> nn.Module:
  """The attention module named by `model.attention` (fixed | additive | dot | scaled_dot |
  general)."""
  if kind == "fixed":
    return FixedLengthAttention(query_features, max_length, all_slots, name=name)
  if kind == "additive":
    return AdditiveAttention(query_features, memory_features, query_features, name=name)
  if kind in LUONG:
    return BilinearAttention(
      query_features, memory_features, kind == "general", kind == "scaled_dot", name=name
    )
  raise ConfigError(
    f"unknown model.attention {kind!r}; use none, fixed, additive, {', '.join(LUONG)}."
  )
