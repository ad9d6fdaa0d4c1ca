"""A per-step classifier over a masked RNN stack: the SRN toy that reads `hello` and
emits `ohlol`.

tokens [B,T], length [B] -> logits [B,T,C]. Inputs are one-hot (`embed=0`, the toy) or
embedded; `head="none"` reads the last layer's outputs as the C logits (the toy's
RNNCell with hidden size C), `head="linear"` scores them with a Linear layer.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import rnn
from seq2seq_jax.models.layers import dense


class RNNTagger(nn.Module):
  num_inputs: int
  num_classes: int
  cell: str = "srn"
  hidden: int = 4
  layers: int = 1
  activation: str = "tanh"
  embed: int = 0
  head: str = "none"  # none | linear

  @nn.compact
  def __call__(self, tokens, length, train: bool = False):
    mask = jnp.arange(tokens.shape[1])[None, :] < length[:, None]
    x = (
      nn.Embed(self.num_inputs, self.embed, name="embed")(tokens)
      if self.embed
      else jax.nn.one_hot(tokens, self.num_inputs)
    )
    y, _ = rnn.RNN(self.cell, self.hidden, self.layers, activation=self.activation, name="rnn")(
      x, mask, train=train
    )
    if self.head == "linear":
      return dense(self.num_classes, self.hidden, name="head")(y)
    if self.head != "none" or self.hidden != self.num_classes:
      raise ConfigError(
        f"model.head={self.head!r} with hidden {self.hidden} and "
        f"{self.num_classes} classes: head none needs hidden == classes; "
        "else use head linear."
      )
    return y
