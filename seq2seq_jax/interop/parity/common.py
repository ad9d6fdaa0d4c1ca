"""What every parity case shares: tolerances, modes, `Diffs`, pytree differences, gradients
mapped onto Flax, dropout and LayerNorm switches, and random padded batches."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import torch

from seq2seq_jax.interop.torch_import import ParamMapping, abstract_variables, import_state_dict

OUTPUT_TOL = 1e-5
GRAD_TOL = 1e-4
MODES = ("eval", "train")  # train: dropout 0

# The tutorial's torchtext specials.
UNK, PAD, BOS, EOS = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Diffs:
  """Max abs differences, Flax vs PyTorch, in one mode."""

  outputs: float
  grads: float

  @property
  def ok(self) -> bool:
    return self.outputs <= OUTPUT_TOL and self.grads <= GRAD_TOL


def max_abs_diff(a: dict, b: dict) -> float:
  """Max |a - b| over the leaves of two pytrees of the same structure."""
  diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
  return max(jax.tree.leaves(diffs))


def grads_as_flax(module: torch.nn.Module, mapping: ParamMapping, target) -> dict:
  """The .grad of every torch parameter, mapped onto the Flax tree (layouts included)."""
  grads = {k: p.grad for k, p in module.named_parameters()}
  return import_state_dict(grads, mapping, target)


def compare(ours: dict, theirs: dict, grads, ref: torch.nn.Module, mapping, target) -> Diffs:
  """Diffs of the outputs (two pytrees alike) and of the Flax grads vs ref's .grad."""
  return Diffs(max_abs_diff(ours, theirs), max_abs_diff(grads, grads_as_flax(ref, mapping, target)))


def imported(ref: torch.nn.Module, mapping: ParamMapping, model, *example) -> tuple:
  """-> (target, variables): model's abstract variables for `example` inputs, and ref's
  state_dict imported into them."""
  target = abstract_variables(model, *example)
  return target, import_state_dict(ref.state_dict(), mapping, target)


def set_dropout(module: torch.nn.Module, p: float) -> None:
  """Every nn.Dropout's p, and the between-layer dropout of multi-layer nn.RNN/GRU/LSTMs."""
  for m in module.modules():
    if isinstance(m, torch.nn.Dropout):
      m.p = p
    elif isinstance(m, torch.nn.RNNBase) and m.num_layers > 1:
      m.dropout = p


def prepare(ref: torch.nn.Module, train: bool, dropout: float) -> None:
  """ref in train mode with dropout 0, or in eval mode with `dropout` set; .grad cleared."""
  set_dropout(ref, 0.0 if train else dropout)
  ref.train(train)
  ref.zero_grad()


def randomize_norms(module: torch.nn.Module) -> None:
  """LayerNorms start as ones/zeros, which would hide a swapped norm: make them distinct."""
  with torch.no_grad():
    for m in module.modules():
      if isinstance(m, torch.nn.LayerNorm):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)


def padded_ids(
  rng: np.random.Generator,
  lengths: list[int],
  width: int,
  vocab: int,
  pad: int,
  first: int | None = None,
) -> np.ndarray:
  """[B, width] random ids in [4, vocab) (no specials), `pad` after each row's length."""
  ids = rng.integers(4, vocab, (len(lengths), width)).astype(np.int32)
  if first is not None:
    ids[:, 0] = first
  ids[np.arange(width)[None, :] >= np.asarray(lengths)[:, None]] = pad
  return ids


def translation_batch(
  rng: np.random.Generator,
  src_len,
  tgt_len,
  src_vocab: int,
  tgt_vocab: int,
  pad: int,
  bos: int,
  width: int = 8,
) -> dict:
  """A padded batch of random ids: src [B,width], tgt_in = <sos> y and tgt_out = y shifted
  by one, both [B,width-1], `pad` after each row's length."""
  src_len, tgt_len = np.asarray(src_len, np.int32), np.asarray(tgt_len, np.int32)
  src = padded_ids(rng, src_len, width, src_vocab, pad)
  tgt = padded_ids(rng, tgt_len + 1, width, tgt_vocab, pad, first=bos)  # <sos> y, pads
  real = np.arange(width - 1)[None, :] < tgt_len[:, None]  # [B,T] real target positions
  return dict(
    src=src,
    src_len=src_len,
    tgt_in=np.where(real, tgt[:, :-1], pad),
    tgt_out=tgt[:, 1:],
    tgt_len=tgt_len,
  )


def rnn_batch(seed: int, features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """x [3,6,F] (pads hold noise too), lengths [3] = (6, 3, 1), mask [3,6]."""
  rng = np.random.default_rng(seed)
  lengths = np.array([6, 3, 1])
  x = rng.normal(size=(3, 6, features)).astype(np.float32)
  return x, lengths, np.arange(6)[None, :] < lengths[:, None]


def weighted_sum(arrays, seed: int):
  """sum_i <arrays[i], R_i> with fixed random R_i: a loss that reaches every output."""
  rng = np.random.default_rng(seed + 1)
  weights = [rng.normal(size=a.shape).astype(np.float32) for a in arrays]
  return sum(
    (a * (torch.from_numpy(w) if isinstance(a, torch.Tensor) else w)).sum()
    for a, w in zip(arrays, weights)
  )
