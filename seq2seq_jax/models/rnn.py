"""Recurrent layers: SRN (Elman), GRU and LSTM cells as masked `nn.scan`s over time.

Cells follow PyTorch's parameterisation (two biases; gate order r,z,n for GRU and
i,f,g,o for LSTM; U(+-1/sqrt(hidden)) init), so weights map one-to-one to
torch's `RNNCell`/`GRU`/`LSTM` and outputs match them.

Masking: where mask[b, t] is False (padding) the carry is passed on unchanged and
the output is zero, so a padded batch gives exactly each example's own result.
A reverse direction reads each sequence backwards from its own last real step.

Shapes: inputs [B, T, F], mask [B, T] bool -> outputs [B, T, H * directions].
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.models.layers import Dropout, torch_uniform

ACTIVATIONS = {"tanh": jnp.tanh, "identity": lambda x: x, "relu": nn.relu}


class Cell(nn.Module):
  """A recurrent cell: `step(carry, x) -> (carry, y)`; `__call__` adds the mask."""

  hidden: int

  def _dense(self, n_gates: int) -> nn.Dense:
    init = torch_uniform(self.hidden)
    return nn.Dense(n_gates * self.hidden, kernel_init=init, bias_init=init)

  def __call__(self, carry, inputs):
    x, m = inputs
    new_carry, y = self.step(carry, x)
    keep = lambda new, old: jnp.where(m[:, None], new, old)
    return jax.tree.map(keep, new_carry, carry), jnp.where(m[:, None], y, 0.0)

  def initial_carry(self, batch: int):
    return jnp.zeros((batch, self.hidden))


class SRNCell(Cell):
  """Elman cell h' = act(W_ih x + b_ih + W_hh h + b_hh) (torch.nn.RNNCell)."""

  activation: str = "tanh"

  def setup(self):
    self.ih, self.hh = self._dense(1), self._dense(1)

  def step(self, h, x):
    h = ACTIVATIONS[self.activation](self.ih(x) + self.hh(h))
    return h, h


class GRUCell(Cell):
  """torch.nn.GRU's cell: r,z = sigmoid(.), n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

  def setup(self):
    self.ih, self.hh = self._dense(3), self._dense(3)

  def step(self, h, x):
    xr, xz, xn = jnp.split(self.ih(x), 3, axis=-1)
    hr, hz, hn = jnp.split(self.hh(h), 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h
    return h, h


class LSTMCell(Cell):
  """torch.nn.LSTM's cell; the carry is (h, c)."""

  def setup(self):
    self.ih, self.hh = self._dense(4), self._dense(4)

  def step(self, carry, x):
    h, c = carry
    i, f, g, o = jnp.split(self.ih(x) + self.hh(h), 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h

  def initial_carry(self, batch: int):
    return (jnp.zeros((batch, self.hidden)), jnp.zeros((batch, self.hidden)))


CELLS = {"srn": SRNCell, "gru": GRUCell, "lstm": LSTMCell}


def cell_class(kind: str):
  return CELLS[kind]


def cell_kwargs(kind: str, hidden: int, activation: str) -> dict:
  return dict(hidden=hidden, activation=activation) if kind == "srn" else dict(hidden=hidden)


def scanned(cell_cls, unroll: int = 1):
  """`cell_cls` lifted over the time axis (axis 1) with shared parameters.

  `unroll` steps per loop iteration: on CPU the loop overhead dominates small cells,
  and unrolling a few steps runs ~2x faster (at some compile time).
  """
  return nn.scan(
    cell_cls,
    variable_broadcast="params",
    split_rngs={"params": False},
    in_axes=1,
    out_axes=1,
    unroll=unroll,
  )


def reverse_padded(x, lengths):
  """Reverses each row's first `lengths[b]` steps along axis 1; padding stays in place."""
  t = x.shape[1]
  idx = jnp.arange(t)[None, :]
  src = jnp.where(idx < lengths[:, None], lengths[:, None] - 1 - idx, idx)
  return jnp.take_along_axis(x, src.reshape(src.shape + (1,) * (x.ndim - 2)), axis=1)


class RNN(nn.Module):
  """Multi-layer, optionally bidirectional recurrent stack (torch.nn.RNN/GRU/LSTM).

  Cells are named like torch's parameter suffixes: `l{k}` and `l{k}_reverse`.
  Returns the last layer's outputs [B,T,H*dirs] and the final carries as a list
  ordered like torch's h_n: [l0, l0_reverse, l1, l1_reverse, ...].
  """

  kind: str  # srn | gru | lstm
  hidden: int
  num_layers: int = 1
  bidirectional: bool = False
  activation: str = "tanh"  # srn only
  dropout: float = 0.0  # between layers, as torch
  unroll: int = 1  # time steps per scan iteration (see `scanned`)
  dropout_rng: str = "threefry"  # mask generator (layers.Dropout): threefry | hash

  @nn.compact
  def __call__(self, x, mask, initial: list[Any] | None = None, train: bool = False):
    lengths = mask.sum(axis=1).astype(jnp.int32)
    cls = CELLS[self.kind]
    kwargs = cell_kwargs(self.kind, self.hidden, self.activation)
    finals = []
    for layer in range(self.num_layers):
      outs = []
      for suffix in ("", "_reverse")[: 1 + self.bidirectional]:
        k = len(finals)
        carry = (
          initial[k]
          if initial is not None
          else cls(**kwargs, parent=None).initial_carry(x.shape[0])
        )
        inp = reverse_padded(x, lengths) if suffix else x
        carry, y = scanned(cls, self.unroll)(**kwargs, name=f"l{layer}{suffix}")(carry, (inp, mask))
        outs.append(reverse_padded(y, lengths) if suffix else y)
        finals.append(carry)
      x = jnp.concatenate(outs, axis=-1)
      if self.dropout and layer < self.num_layers - 1:
        x = Dropout(self.dropout, self.dropout_rng)(x, deterministic=not train)
    return x, finals
