"""Streaming input pipeline on grain: random access over the training records (the run's
token store, data/token_store.py, made once from the prepared array_record files), examples
made in grain's workers, batched by bucket into the in-memory path's fixed shapes
(pipeline.py), or packed along a plan. `data.pipeline=grain`.

One epoch of `StreamedDataset.batches(seed=, epoch=)`:

  record indices --shuffle(seed, epoch)-->  a global permutation (grain's index_shuffle:
                                            O(1) memory, computed per index)
  --[host::hosts]-->         this process's shard: disjoint, together every record
  --blocks from `position`-->  BLOCK records per grain element: one batched read, then
                             encoded (`encode`: record -> example) in one of grain's
                             `workers` prefetch processes (0: a thread of this process)
  --bucket-->                one buffer per bucket edge; a full buffer (the process's rows)
                             is a batch, the partial ones are flushed at the epoch's end

so every pair comes once per epoch, in [rows, edge] batches of the same edges as the
in-memory path (rows past the last example are empty: index -1, lengths 0), pairs longer
than the largest edge are dropped (training), and the epoch has
`sum over buckets of ceil(pairs / batch_size)` batches (from the length histogram the
token store counted). Several processes: each batch is padded to the largest
edge (every process must feed the same shape at every step) and each epoch has
ceil(ceil(N / processes) / rows) batches on every process (the shorter shards end with
empty batches).

Memory: one batch per bucket and grain's read-ahead buffers; nothing per example (the
token store reads its offsets from disk). The state after a batch
(`BatchIterator.get_state()`, JSON) is the epoch, the batches so far, the shard position
and the record indices still in the buckets' buffers: the training loop saves it in the
checkpoint, and `batches(state=)` re-reads those few records and goes on from the
position, so a resumed run sees the batches an uninterrupted one does (with any worker
count).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grain
import numpy as np

from seq2seq_jax.data.builders.base import Stream
from seq2seq_jax.data.packing import fill, plan
from seq2seq_jax.data.pipeline import Batch, collate
from seq2seq_jax.errors import DataError
from seq2seq_jax.rundir import atomic_files, write_text

# (record index, record) -> (length for the bucket, example of 1-D int arrays and scalars)
Encode = Callable[[int, Any], tuple[int, dict[str, Any]]]


def _flags_parsed() -> None:
  """grain reads absl flags in its workers; parse them (defaults) where nobody did (tests,
  the bench): a no-op under the CLI, whose absl app parsed them."""
  from absl import flags

  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


BLOCK = 256  # records read (one batched read) and encoded per grain element


@dataclasses.dataclass(frozen=True)
class Blocks:
  """Element j: fn(record index, record) of the records at positions [start + j * size,
  ...) of `order` (a MapDataset of record indices; None: record order), read with one
  batched `source.__getitems__` (per-record reads cost ~20x more). Picklable: grain's
  worker processes each read and encode whole blocks."""

  source: Any
  fn: Callable[[int, Any], Any]
  order: grain.MapDataset | None = None
  start: int = 0
  size: int = BLOCK

  def __len__(self) -> int:
    n = len(self.source) if self.order is None else len(self.order)
    return max(0, -(-(n - self.start) // self.size))

  def __call__(self, j: int) -> list[Any]:
    lo = self.start + j * self.size
    n = len(self.source) if self.order is None else len(self.order)
    positions = range(lo, min(lo + self.size, n))
    ids = list(positions) if self.order is None else [int(self.order[q]) for q in positions]
    return [self.fn(i, raw) for i, raw in zip(ids, self.source.__getitems__(ids))]


def read(blocks: Blocks, *, workers: int = 0, buffer: int = 8) -> Iterator[Any]:
  """fn's results for every record of `blocks`, in order, the blocks read ahead by
  grain's `workers` prefetch processes (0: a reader thread in this process)."""
  iterator = prefetched(grain.MapDataset.range(len(blocks)).map(blocks), workers, buffer)
  try:
    for block in iterator:
      yield from block
  finally:
    getattr(iterator, "close", lambda: None)()


def prefetched(ds: grain.MapDataset, workers: int, buffer: int) -> Iterator[Any]:
  """An iterator over `ds`'s elements, computed ahead by grain's `workers` prefetch
  processes (0: a reader thread in this process), `buffer` elements ahead."""
  _flags_parsed()
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=buffer))
  if workers:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return iter(it)


def epoch_seed(seed: int, epoch: int) -> int:
  """The shuffle seed of an epoch, from the run's seed (different per epoch)."""
  return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


@dataclasses.dataclass(frozen=True)
class StreamedDataset:
  """Batches of fixed shapes streamed from a random-access `source` (module docstring).

  Attributes:
    source: a grain random-access data source (len, getitem), e.g. ArrayRecordDataSource.
    encode: (record index, record) -> (length, example); picklable (workers run it).
    edges: increasing bucket edges; an example goes to the first edge >= its length.
    batch_size: rows of a global batch.
    counts: {length: records}: the epoch's batch count.
    pad_values: pad value per sequence field (default 0).
    workers: grain prefetch processes (0: read in this process).
    buffer: blocks (of BLOCK records) read ahead.
    host: (process index, process count); None: jax's.
  """

  source: Any
  encode: Encode
  edges: tuple[int, ...]
  batch_size: int
  counts: Mapping[int, int]
  pad_values: Mapping[str, int] = dataclasses.field(default_factory=dict)
  workers: int = 0
  buffer: int = 8
  host: tuple[int, int] | None = None

  def __post_init__(self):
    if len(self.source) == 0:
      raise DataError("dataset split is empty: check the data directory and filters.")
    if not any(n <= self.edges[-1] for n in self.counts):
      raise DataError(
        f"every example is longer than the largest bucket edge {self.edges[-1]}: raise "
        "data.bucket_edges."
      )

  def __len__(self) -> int:
    return len(self.source)

  def _host(self) -> tuple[int, int]:
    if self.host is not None:
      return self.host
    import jax

    return jax.process_index(), jax.process_count()

  def _rows(self) -> int:
    """Rows of this process's batches."""
    return self.batch_size // self._host()[1]

  def _edges(self) -> tuple[int, ...]:
    """The bucket edges: all of them on one process, the largest on several."""
    return self.edges if self._host()[1] == 1 else self.edges[-1:]

  def dropped(self) -> int:
    """Records longer than the largest edge (left out of training)."""
    return sum(c for n, c in self.counts.items() if n > self.edges[-1])

  def num_batches(self) -> int:
    """Batches per epoch (the same on every process)."""
    index, hosts = self._host()
    if hosts > 1:
      return math.ceil(math.ceil(len(self) / hosts) / self._rows())
    buckets = np.searchsorted(np.asarray(self.edges), list(self.counts), side="left")
    per_bucket = np.bincount(buckets, weights=list(self.counts.values()), minlength=len(self.edges))
    return int(sum(math.ceil(c / self.batch_size) for c in per_bucket[: len(self.edges)]))

  def shapes(self) -> set[int]:
    edges = np.asarray(self._edges())
    return {int(edges[min(np.searchsorted(edges, n), len(edges) - 1)]) for n in self.counts}

  def order(self, seed: int | None, epoch: int) -> grain.MapDataset:
    """This process's record indices in the epoch's order: the (seed, epoch) permutation
    (seed None: record order) sliced [process index::process count]."""
    ds = grain.MapDataset.range(len(self.source))
    if seed is not None:
      ds = ds.shuffle(seed=epoch_seed(seed, epoch))
    index, hosts = self._host()
    return ds[index::hosts]

  def examples(self, indices: list[int]) -> list[dict[str, Any]]:
    """The examples of these records (one batched read)."""
    raws = self.source.__getitems__(list(indices))
    return [self.encode(i, raw)[1] for i, raw in zip(indices, raws)]

  def batches(
    self,
    *,
    seed: int | None = None,
    epoch: int = 0,
    start: int = 0,
    rows: tuple[int, int] | None = None,
    state: Mapping[str, Any] | None = None,
  ) -> BatchIterator:
    """The epoch's batches of this process's rows (`rows`: (lo, hi) of the global batch,
    as the training loop passes; None: all of them, one process). `state`: go on from a
    `BatchIterator.get_state()` of this epoch; else skip the first `start` batches."""
    n = self._rows()
    if rows is not None and rows[1] - rows[0] != n:
      raise DataError(
        f"this process feeds rows {rows} of each batch but reads {n} rows per batch "
        f"(train.batch_size={self.batch_size} over {self._host()[1]} processes): every "
        "process must have the same number of devices."
      )
    it = BatchIterator(self, self.order(seed, epoch), epoch, state)
    if state is None:
      for _ in range(start):
        next(it)
    else:
      check_state(state, epoch, start)
    return it


def check_state(state: Mapping[str, Any], epoch: int, start: int) -> None:
  """A saved data state must be where the checkpoint's step says the epoch is."""
  if (state.get("epoch"), state.get("batches")) != (epoch, start):
    raise DataError(
      f"the saved data state is at epoch {state.get('epoch')} batch {state.get('batches')}, "
      f"not epoch {epoch} batch {start} as the checkpoint's step: the checkpoint is "
      "damaged; train again in a new --workdir."
    )


class BatchIterator:
  """The batches of one epoch of a StreamedDataset; `get_state()` after any of them."""

  def __init__(self, data: StreamedDataset, order: grain.MapDataset, epoch: int, state=None):
    self.data, self.order, self.epoch = data, order, epoch
    self.edges = data._edges()
    self.rows = data._rows()
    self.total = data.num_batches()
    state = state or {}
    self.batches = state.get("batches", 0)
    self.position = state.get("position", 0)
    self.template = data.examples([0])[0]  # the fields, for a batch of empty rows
    pending = state.get("pending", [[] for _ in self.edges])
    self.buckets = [data.examples(ids) if ids else [] for ids in pending]
    self._it = self._run()

  def __iter__(self) -> BatchIterator:
    return self

  def __next__(self) -> Batch:
    return next(self._it)

  def __len__(self) -> int:
    return self.total

  def get_state(self) -> dict[str, Any]:
    """JSON: where the epoch stands after the last batch returned."""
    return {
      "epoch": self.epoch,
      "batches": self.batches,
      "position": self.position,
      "pending": [[int(e["index"]) for e in bucket] for bucket in self.buckets],
    }

  def close(self) -> None:
    self._it.close()

  def _batch(self, examples: list[dict], edge: int) -> Batch:
    self.batches += 1
    return collate(examples, self.template, self.rows, edge, self.data.pad_values)

  def _run(self) -> Iterator[Batch]:
    edges = np.asarray(self.edges)
    blocks = Blocks(self.data.source, self.data.encode, self.order, self.position)
    for length, example in read(blocks, workers=self.data.workers, buffer=self.data.buffer):
      self.position += 1
      if length > edges[-1]:
        continue  # longer than the largest edge: dropped (counted in `dropped()`)
      b = int(np.searchsorted(edges, length))
      self.buckets[b].append(example)
      if len(self.buckets[b]) == self.rows:
        out = self._batch(self.buckets[b], int(edges[b]))
        self.buckets[b] = []
        yield out
    for b, bucket in enumerate(self.buckets):  # the epoch's end: the partial buckets
      if bucket:
        out = self._batch(bucket, int(edges[b]))
        self.buckets[b] = []
        yield out
    while self.batches < self.total:  # several processes: a shorter shard's empty batches
      yield self._batch([], int(edges[-1]))


@dataclasses.dataclass(frozen=True)
class _Text:
  text: Callable[[Any], Any]

  def __call__(self, index: int, record: Any) -> Any:
    return self.text(record)


def pairs(text: Callable[[Any], Any], source, *, workers: int = 0) -> Iterable[Any]:
  """text(record) of every record of `source`, in order (streamed)."""
  return read(Blocks(source, _Text(text)), workers=workers)


class StreamedPairs:
  """ParallelText's reading interface over a prepared `Stream` (builders/base.py): `train`
  the training records (len), `split("train")` its pairs streamed anew on each call,
  `validation` and `test` in memory (small: news test sets)."""

  def __init__(self, stream: Stream, *, workers: int = 0):
    self.stream, self.workers = stream, workers
    self.train = stream.source("train")
    self.validation = list(pairs(stream.text, stream.source("validation")))
    self.test = list(pairs(stream.text, stream.source("test")))

  def split(self, name: str) -> Iterable[Any]:
    if name == "train":
      return pairs(self.stream.text, self.train, workers=self.workers)
    return getattr(self, name)


# Packing (data.packing=True): the rows are planned once, then streamed.
#
# `plan_packing` reads every training record once, in an order drawn from the seed, and
# packs their lengths (packing.plan) into rows; only the rows' record indices are kept, in
# two flat files in the run directory (4 bytes a pair, 8 a row; read through np.memmap, so
# nothing per pair is held in memory). `PackedStream` then serves epoch e as the rows in
# the (seed, e) order, `batch_size` rows a batch: each batch (a grain element, built in a
# prefetch worker) is one batched read of its rows' records, encoded and `fill`ed. Like the
# in-memory PackedDataset, every epoch has the same ceil(rows / batch_size) batches and
# holds every pair once (the same pairs share a row in every epoch); the state after a
# batch is its number alone, so a resume is exact with any worker count.

PLAN_TAG = 0x7061636B  # the packing order's seed is (run seed, this), not an epoch's


@dataclasses.dataclass(frozen=True)
class _PairLengths:
  encode: Encode

  def __call__(self, index: int, record: Any) -> tuple[int, int, int]:
    example = self.encode(index, record)[1]
    return index, len(example["src"]), len(example["tgt_in"])


@dataclasses.dataclass(frozen=True)
class PackingPlan:
  """The planned rows: files of record indices (int32, row after row) and of row offsets
  (int64, rows + 1), and the pairs left out (longer than the packed length)."""

  ids_file: str
  offsets_file: str
  src_length: int
  tgt_length: int
  dropped: int

  def offsets(self) -> np.ndarray:
    return np.memmap(self.offsets_file, np.int64, mode="r")

  def ids(self) -> np.ndarray:
    return np.memmap(self.ids_file, np.int32, mode="r")

  def __len__(self) -> int:
    return len(self.offsets()) - 1


def plan_packing(
  source,
  encode: Encode,
  path: Path,
  *,
  seed: int,
  rows: int,
  src_length: int,
  tgt_length: int,
  workers: int = 0,
  key: Mapping[str, Any] | None = None,
) -> PackingPlan:
  """Plans the packing of `source` (module note above) into `path`.{ids,offsets} and
  `path`.json, or reuses those files when `path`.json holds the same `key` and settings.
  Written atomically (temporary files renamed), so a reader never sees half a plan."""
  settings = dict(key or {}, records=len(source), seed=seed, rows=rows)
  settings.update(src_length=src_length, tgt_length=tgt_length)
  files = {k: f"{path}.{k}" for k in ("ids", "offsets")}
  meta = Path(f"{path}.json")
  saved = json.loads(meta.read_text()) if meta.exists() else {}
  if saved.get("settings") == settings and all(os.path.exists(f) for f in files.values()):
    return PackingPlan(files["ids"], files["offsets"], src_length, tgt_length, saved["dropped"])
  order = grain.MapDataset.range(len(source)).shuffle(seed=epoch_seed(seed, PLAN_TAG))
  held: dict[int, int] = {}  # a planned position -> its record index (the open batch's)
  positions = itertools.count()  # of the pairs kept, in the order planned
  dropped = 0

  def lengths() -> Iterator[tuple[int, int]]:
    nonlocal dropped
    for index, n_src, n_tgt in read(Blocks(source, _PairLengths(encode), order), workers=workers):
      if n_src > src_length or n_tgt > tgt_length:
        dropped += 1  # longer than the packed length: left out, as the buckets drop them
        continue
      held[next(positions)] = index
      yield n_src, n_tgt

  with atomic_files(files) as out:
    ids, offsets = out["ids"], out["offsets"]
    total = 0
    offsets.write(np.int64(0).tobytes())
    for batch in plan(lengths(), rows=rows, src_length=src_length, tgt_length=tgt_length):
      for row in batch:
        ids.write(np.asarray([held.pop(i) for i in row], np.int32).tobytes())
        total += len(row)
        offsets.write(np.int64(total).tobytes())
  write_text(meta, json.dumps({"settings": settings, "dropped": dropped}, indent=1) + "\n")
  return PackingPlan(files["ids"], files["offsets"], src_length, tgt_length, dropped)


@dataclasses.dataclass(frozen=True)
class _PackedBatch:
  """Element b of an epoch: rows [lo, hi) of its global batch (rows order[b * size + r]
  of the plan), read in one batched read, encoded and filled. Picklable (grain workers
  build the batches; the plan's files are opened in the worker)."""

  source: Any
  encode: Encode
  plan: PackingPlan
  order: grain.MapDataset | None
  size: int
  lo: int
  hi: int
  pad_id: int

  def __call__(self, b: int) -> Batch:
    offsets, ids = self.plan.offsets(), self.plan.ids()
    n = len(offsets) - 1
    positions = [b * self.size + r for r in range(self.lo, self.hi)]
    rows = [p if self.order is None else int(self.order[p]) for p in positions if p < n]
    members = [ids[offsets[r] : offsets[r + 1]].tolist() for r in rows]
    flat = [i for m in members for i in m]
    examples = iter(self.encode(i, raw)[1] for i, raw in zip(flat, self.source.__getitems__(flat)))
    return fill(
      [[next(examples) for _ in m] for m in members],
      batch_rows=self.hi - self.lo,
      src_length=self.plan.src_length,
      tgt_length=self.plan.tgt_length,
      pad_id=self.pad_id,
    )


@dataclasses.dataclass(frozen=True)
class PackedStream:
  """Packed batches of fixed shape [rows, length] streamed from `source` along a
  `PackingPlan` (the note above), with the training loop's dataset interface.

  Attributes:
    source: the random-access training records.
    encode: (record index, record) -> (length, example); picklable.
    plan: the planned rows (`plan_packing`).
    batch_size: rows of a global batch.
    pad_id: the token of padded positions.
    workers, buffer: grain prefetch processes (0: a thread) and batches read ahead.
  """

  source: Any
  encode: Encode
  plan: PackingPlan
  batch_size: int
  pad_id: int
  workers: int = 0
  buffer: int = 4

  def __post_init__(self):
    if len(self.plan) == 0:
      raise DataError(
        "no training pair fits the packed length "
        f"({self.plan.src_length}, {self.plan.tgt_length}): raise data.packed_length."
      )

  def num_batches(self) -> int:
    return -(-len(self.plan) // self.batch_size)

  def shapes(self) -> set[tuple[int, int]]:
    return {(self.plan.src_length, self.plan.tgt_length)}

  def dropped(self) -> int:
    return self.plan.dropped

  def batches(
    self,
    *,
    seed: int | None = None,
    epoch: int = 0,
    start: int = 0,
    rows: tuple[int, int] | None = None,
    state: Mapping[str, Any] | None = None,
  ) -> PackedIterator:
    """The epoch's batches from the `start`-th (or a saved state's), rows [lo, hi) of
    each (None: all); rows shuffled by (seed, epoch) when seed is given."""
    if state is not None:
      check_state(state, epoch, start)
    lo, hi = (0, self.batch_size) if rows is None else rows
    order = None
    if seed is not None:
      order = grain.MapDataset.range(len(self.plan)).shuffle(seed=epoch_seed(seed, epoch))
    element = _PackedBatch(
      self.source, self.encode, self.plan, order, self.batch_size, lo, hi, self.pad_id
    )
    ds = grain.MapDataset.range(start, self.num_batches()).map(element)
    return PackedIterator(
      prefetched(ds, self.workers, self.buffer), epoch, start, self.num_batches()
    )


class PackedIterator:
  """One epoch of a PackedStream; `get_state()` (JSON) after any batch."""

  def __init__(self, it: Iterator[Batch], epoch: int, start: int, total: int):
    self._it, self.epoch, self.count, self.total = it, epoch, start, total

  def __iter__(self) -> PackedIterator:
    return self

  def __next__(self) -> Batch:
    batch = next(self._it)
    self.count += 1
    return batch

  def __len__(self) -> int:
    return self.total

  def get_state(self) -> dict[str, Any]:
    return {"epoch": self.epoch, "batches": self.count}

  def close(self) -> None:
    getattr(self._it, "close", lambda: None)()
