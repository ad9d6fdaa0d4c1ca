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


def _empty(rows: int, src_length: int, tgt_length: int, pad_id: int) -> dict[str, np.ndarray]:
  """A batch of empty rows: pad tokens, segment 0, position 0, no pairs."""
  arrays = {k: np.full((rows, src_length), pad_id, np.int32) for k in SRC_KEYS}
  arrays.update({k: np.full((rows, tgt_length), pad_id, np.int32) for k in TGT_KEYS})
  for side, length in (("src", src_length), ("tgt", tgt_length)):
    arrays[f"{side}_segment"] = np.zeros((rows, length), np.int32)
    arrays[f"{side}_position"] = np.zeros((rows, length), np.int32)
  arrays["pairs"] = np.zeros((rows,), np.int32)
  return arrays


def fill(
  rows: Sequence[Sequence[Mapping[str, np.ndarray]]],
  *,
  batch_rows: int,
  src_length: int,
  tgt_length: int,
  pad_id: int,
) -> dict[str, np.ndarray]:
  """One packed batch: row r holds the examples rows[r], one after the other (their
  lengths must fit: `plan` decides them); rows past len(rows) are empty."""
  a = _empty(batch_rows, src_length, tgt_length, pad_id)
  for r, examples in enumerate(rows):
    used = {"src": 0, "tgt": 0}
    for segment, ex in enumerate(examples, 1):
      for side, keys in (("src", SRC_KEYS), ("tgt", TGT_KEYS)):
        n = len(ex[keys[0]])
        span = slice(used[side], used[side] + n)
        for k in keys:
          a[k][r, span] = ex[k]
        a[f"{side}_segment"][r, span] = segment
        a[f"{side}_position"][r, span] = np.arange(n)
        used[side] += n
    a["pairs"][r] = len(examples)
  return a


class _Open:
  """The open batch of `plan`: each row's used (source, target) positions and members."""

  def __init__(self, rows: int, src_length: int, tgt_length: int):
    self.used = np.zeros((rows, 2), np.int64)
    self.room = np.array([src_length, tgt_length])
    self.members: list[list[int]] = [[] for _ in range(rows)]

  def add(self, i: int, n_src: int, n_tgt: int) -> bool:
    """Puts item i in the first row with room for both sides; False when none has."""
    fits = np.flatnonzero(((self.used + (n_src, n_tgt)) <= self.room).all(axis=1))
    if not len(fits):
      return False
    self.used[fits[0]] += (n_src, n_tgt)
    self.members[fits[0]].append(i)
    return True

  def rows(self) -> list[list[int]]:
    """The members of the rows that hold any (they come first: first fit)."""
    return [m for m in self.members if m]


def plan(
  lengths: Iterable[tuple[int, int]],
  *,
  rows: int,
  src_length: int,
  tgt_length: int,
  defer: int | None = None,
) -> Iterator[list[list[int]]]:
  """The packing (module docstring) of items with these (source, target) lengths, in
  order: yields each batch as its rows' item positions (0-based in `lengths`). Only the
  lengths decide it, so a streamed pipeline can plan from lengths and fill the rows later
  (`fill`). Every length must fit the packed length (`pack` checks)."""
  if rows < 1 or src_length < 1 or tgt_length < 1:
    raise ValueError(f"pack: rows={rows}, src_length={src_length}, tgt_length={tgt_length}")
  defer = rows if defer is None else defer
  new = lambda: _Open(rows, src_length, tgt_length)

  def refill(waiting):
    """A fresh batch holding the waiting items that fit it, and those still waiting."""
    batch, left = new(), []
    for i, n in waiting:
      if not batch.add(i, *n):
        left.append((i, n))
    return batch, left

  batch, waiting = new(), []
  for i, n in enumerate(lengths):
    if batch.add(i, *n):
      continue
    waiting.append((i, n))
    if len(waiting) > defer:
      yield batch.rows()
      batch, waiting = refill(waiting)
  while waiting or batch.rows():
    yield batch.rows()
    batch, waiting = refill(waiting)


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
  """Packs `examples` in order into [rows, length] batches (module docstring): `plan`
  on their lengths, then `fill`. Memory: the examples of the open batch and the waiting.

  defer: how many examples that fit no row of the open batch wait before it is emitted
  (default `rows`; 0 emits at the first one, the plain greedy packer). An example longer
  than the packed length is a DataError naming it (0-based position in `examples`).
  """
  held: dict[int, Mapping[str, np.ndarray]] = {}

  def lengths():
    for i, example in enumerate(examples):
      held[i] = example
      yield _lengths(example, i, src_length, tgt_length)

  shape = dict(batch_rows=rows, src_length=src_length, tgt_length=tgt_length, pad_id=pad_id)
  for members in plan(
    lengths(), rows=rows, src_length=src_length, tgt_length=tgt_length, defer=defer
  ):
    yield fill([[held.pop(i) for i in row] for row in members], **shape)


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
