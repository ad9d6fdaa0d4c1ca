"""Packing: several (source, target) pairs per row of a fixed [rows, length] batch.

`pack` turns any iterable of examples (dicts with 1-D int arrays "src", "tgt_in",
"tgt_out"; other keys are ignored) into batches of one fixed shape, in which each row
holds whole pairs one after the other:

  src, src_segment, src_position            [rows, src_length] int32
  tgt_in, tgt_out, tgt_segment, tgt_position [rows, tgt_length] int32
  pairs                                     [rows] int32: pairs in the row (0: an empty row)

Segment ids number the pairs of a row 1, 2, ... (0: padding), and the positions restart
at 0 for each pair, so a model that masks attention by segment and looks its positions
up per segment sees every pair exactly as it would alone (models/transformer.py).

The packer is greedy and streaming (memory: one batch plus a few deferred examples):
each example goes to the first row of the open batch where both its source and its
target still fit; one that fits nowhere waits, and once more than `defer` wait the batch
is emitted and the waiting ones open the next batch. The input's
order alone decides the output, so a seeded input order gives a seeded packing; every
example comes out exactly once. Any streaming pipeline can call it.

`PackedDataset` is the in-memory training path (data.packing=True): the pairs are packed
once, in an order drawn from the seed, into rows; each epoch shuffles those rows from
(seed, epoch) into batches, so every epoch has the same number of batches (the loop
resumes at a step by skipping batches of its epoch) and every pair is in it once. The
price of the fixed count: the same pairs share a row in every epoch (they never see each
other; only the batch they land in changes).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from seq2seq_jax.errors import ConfigError, DataError

SRC_KEYS = ("src",)
TGT_KEYS = ("tgt_in", "tgt_out")


class _Batch:
  """One open batch: the arrays being filled and each row's used lengths."""

  def __init__(self, rows: int, src_length: int, tgt_length: int, pad_id: int):
    self.arrays = {k: np.full((rows, src_length), pad_id, np.int32) for k in SRC_KEYS}
    self.arrays.update({k: np.full((rows, tgt_length), pad_id, np.int32) for k in TGT_KEYS})
    for side, length in (("src", src_length), ("tgt", tgt_length)):
      self.arrays[f"{side}_segment"] = np.zeros((rows, length), np.int32)
      self.arrays[f"{side}_position"] = np.zeros((rows, length), np.int32)
    self.arrays["pairs"] = np.zeros((rows,), np.int32)
    self.used = np.zeros((rows, 2), np.int64)  # [row, (src, tgt)] positions taken
    self.room = np.array([src_length, tgt_length])
    self.empty = True

  def add(self, example: Mapping[str, np.ndarray], n_src: int, n_tgt: int) -> bool:
    """Puts `example` in the first row with room for both sides; False when none has."""
    fits = np.flatnonzero(((self.used + (n_src, n_tgt)) <= self.room).all(axis=1))
    if not len(fits):
      return False
    row = fits[0]
    a = self.arrays
    a["pairs"][row] += 1
    for side, keys, n, start in (
      ("src", SRC_KEYS, n_src, self.used[row, 0]),
      ("tgt", TGT_KEYS, n_tgt, self.used[row, 1]),
    ):
      span = slice(start, start + n)
      for k in keys:
        a[k][row, span] = example[k]
      a[f"{side}_segment"][row, span] = a["pairs"][row]
      a[f"{side}_position"][row, span] = np.arange(n)
    self.used[row] += (n_src, n_tgt)
    self.empty = False
    return True


def _lengths(example: Mapping[str, np.ndarray], i: int, src_length: int, tgt_length: int):
  n_src, n_tgt = len(example["src"]), len(example["tgt_in"])
  if len(example["tgt_out"]) != n_tgt:
    raise DataError(
      f"example {i}: tgt_in has {n_tgt} tokens but tgt_out {len(example['tgt_out'])}: "
      "they must be the shifted target of one pair."
    )
  if n_src > src_length or n_tgt > tgt_length:
    raise DataError(
      f"example {i} (source {n_src}, target {n_tgt} tokens) is longer than the packed "
      f"length (source {src_length}, target {tgt_length}): raise data.packed_length or "
      "filter longer pairs out."
    )
  return n_src, n_tgt


def pack(
  examples: Iterable[Mapping[str, np.ndarray]],
  *,
  rows: int,
  src_length: int,
  tgt_length: int,
  pad_id: int,
  defer: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
  """Packs `examples` in order into [rows, length] batches (module docstring).

  defer: how many examples that fit no row of the open batch wait before it is emitted
  (default `rows`; 0 emits at the first one, the plain greedy packer). An example longer
  than the packed length is a DataError naming it (0-based position in `examples`).
  """
  if rows < 1 or src_length < 1 or tgt_length < 1:
    raise ValueError(f"pack: rows={rows}, src_length={src_length}, tgt_length={tgt_length}")
  defer = rows if defer is None else defer
  new = lambda: _Batch(rows, src_length, tgt_length, pad_id)

  def refill(waiting):
    """A fresh batch holding the waiting examples that fit it, and those still waiting."""
    batch, left = new(), []
    for ex, m in waiting:
      if not batch.add(ex, *m):
        left.append((ex, m))
    return batch, left

  batch, waiting = new(), []
  for i, example in enumerate(examples):
    n = _lengths(example, i, src_length, tgt_length)
    if batch.add(example, *n):
      continue
    waiting.append((example, n))
    if len(waiting) > defer:
      yield batch.arrays
      batch, waiting = refill(waiting)
  while waiting or not batch.empty:
    yield batch.arrays
    batch, waiting = refill(waiting)


@dataclasses.dataclass(frozen=True)
class PackedDataset:
  """Training pairs packed into fixed [batch_size, length] batches (module docstring), with
  the interface of pipeline.BucketedDataset that the training loop uses.

  Attributes:
    examples: the pairs (dicts with 1-D "src", "tgt_in", "tgt_out").
    batch_size: rows per batch (a multiple of the device count).
    src_length, tgt_length: the packed lengths (data.packed_length).
    pad_id: the token of padded positions.
    seed: orders the pairs for packing (the run's seed).
  """

  examples: Sequence[Mapping[str, np.ndarray]]
  batch_size: int
  src_length: int
  tgt_length: int
  pad_id: int
  seed: int = 0

  def __post_init__(self):
    if len(self.examples) == 0:
      raise DataError("dataset split is empty: check the data directory and filters.")
    for i, ex in enumerate(self.examples):
      _lengths(ex, i, self.src_length, self.tgt_length)

  @functools.cached_property
  def packed(self) -> dict[str, np.ndarray]:
    """Every packed row ([R, length] arrays; R: the rows that hold pairs)."""
    order = np.random.default_rng(self.seed).permutation(len(self.examples))
    batches = list(
      pack(
        (self.examples[i] for i in order),
        rows=self.batch_size,
        src_length=self.src_length,
        tgt_length=self.tgt_length,
        pad_id=self.pad_id,
      )
    )
    rows = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    used = rows["pairs"] > 0
    return {k: v[used] for k, v in rows.items()}

  def num_batches(self) -> int:
    return -(-len(self.packed["pairs"]) // self.batch_size)

  def shapes(self) -> set[tuple[int, int]]:
    return {(self.src_length, self.tgt_length)}

  def batches(
    self,
    *,
    seed: int | None = None,
    epoch: int = 0,
    start: int = 0,
    rows: tuple[int, int] | None = None,
  ) -> Iterator[dict[str, np.ndarray]]:
    """Yields the epoch's batches (rows shuffled by (seed, epoch) when seed is given),
    skipping the first `start`; rows=(lo, hi): only rows [lo, hi) of each. The last
    batch is filled with empty rows (pairs 0, segments 0: no loss weight)."""
    lo, hi = (0, self.batch_size) if rows is None else rows
    if not 0 <= lo < hi <= self.batch_size:
      raise ConfigError(f"rows={rows} is not a row range of a {self.batch_size}-row batch.")
    packed, n = self.packed, len(self.packed["pairs"])
    order = np.arange(n) if seed is None else np.random.default_rng([seed, epoch]).permutation(n)
    order = np.concatenate([order, np.full(self.num_batches() * self.batch_size - n, -1)])
    for b in range(start, self.num_batches()):
      idx = order[b * self.batch_size + lo : b * self.batch_size + hi]
      out = {k: v[np.maximum(idx, 0)] for k, v in packed.items()}
      empty = idx < 0
      for k, v in out.items():
        v[empty] = self.pad_id if k in SRC_KEYS + TGT_KEYS else 0
      yield out
