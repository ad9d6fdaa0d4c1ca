"""Numpy input pipeline: bucket by length, pad to a few fixed shapes, shuffle from a seed.

Every batch has `batch_size` rows and a time axis padded to one of `edges`, so a
jitted step compiles at most once per edge. The last batch of a bucket is filled
with empty rows (`index == -1`, lengths 0) that carry no loss weight, so no
example is dropped and no new shape appears.

Sampling: "shuffle" (default) yields every example once per epoch; "balanced"
yields `steps_per_epoch` batches whose rows each draw a class uniformly, then
an example of that class uniformly (with replacement), from (seed, epoch); such
a batch is padded to the edge of its longest row.

Token-counted batches (`train.max_tokens`): `batch_sizes` gives each bucket its own
row count (`token_batch_sizes`: about max_tokens // edge), so every bucket still has one
fixed shape.

Multi-host: `batches(rows=(lo, hi))` collates only rows [lo, hi) of each global
batch (one process's devices' rows; of a bucket with its own size, the same share). The
order, and each batch's edge, are those of the global batch (same seed everywhere), so
every process agrees on each step's shape and together they feed the batch one process
would.

Evaluation keeps every example: `fit_edges` adds one edge for those longer than the
configured edges, up to the model's own limit.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from seq2seq_jax.errors import ConfigError, DataError

Batch = dict[str, np.ndarray]
log = logging.getLogger("seq2seq_jax")


def fit_edges(
  edges: Sequence[int],
  lengths: Sequence[int],
  *,
  multiple: int = 8,
  limit: tuple[int, str] | None = None,
  what: str = "examples",
  unit: str = "number",
) -> tuple[int, ...]:
  """`edges`, plus one edge when some of `lengths` exceed the largest: the longest length
  rounded up to a `multiple`, at most the model's `limit` (its length, the key that sets
  it; None: no limit). Lengths past the limit are a DataError with their count and the
  first one's position (1-based, e.g. `unit`="line": "the first is line 7")."""
  edges = tuple(edges)
  longest = max(lengths, default=0)
  if longest <= edges[-1]:
    return edges
  if limit is not None:
    over = [i for i, n in enumerate(lengths) if int(n) > limit[0]]
    if over:
      raise DataError(
        f"{what}: {len(over)} longer than the model's limit of {limit[0]} tokens ({limit[1]}; "
        f"the longest has {longest}, the first is {unit} {over[0] + 1}): raise {limit[1]} "
        "and retrain, or filter them out."
      )
  edge = -(-int(longest) // multiple) * multiple
  edge = edge if limit is None else min(edge, limit[0])
  log.warning(
    "%s up to %d tokens > the largest bucket edge %d: adding an edge %d",
    what,
    longest,
    edges[-1],
    edge,
  )
  return edges + (edge,)


def token_rows(max_tokens: int, length: int, multiple: int, what: str) -> int:
  """Rows of a `length`-token-wide batch holding at most `max_tokens` padded tokens,
  rounded down to a `multiple` (the device count x train.grad_accum_steps); fewer than
  one `multiple` is a ConfigError naming `what` (the bucket edge, the packed length)."""
  rows = max_tokens // length // multiple * multiple
  if rows < multiple:
    raise ConfigError(
      f"train.max_tokens={max_tokens} gives {what} {length} only {max_tokens // length} "
      f"row(s), fewer than the {multiple} its batches need (devices x train.grad_accum_steps): "
      f"raise train.max_tokens to at least {length * multiple}."
    )
  return rows


def token_batch_sizes(max_tokens: int, edges: Sequence[int], multiple: int) -> tuple[int, ...]:
  """Rows per bucket for token-counted batches (`token_rows` of each edge)."""
  return tuple(token_rows(max_tokens, e, multiple, "bucket edge") for e in edges)


@dataclasses.dataclass(frozen=True)
class BucketedDataset:
  """Examples (dicts of 1-D int arrays and scalars) batched into fixed shapes.

  Attributes:
    examples: per-example fields; 1-D arrays are sequences (padded to the
      bucket edge), 0-D values are stacked.
    lengths: [N] the length used to pick each example's bucket.
    edges: increasing bucket edges; an example goes to the first edge >= its length.
    batch_size: rows per batch (a multiple of the device count).
    batch_sizes: rows per batch of each bucket (token-counted batches; () = batch_size
      for all; batch_size is then the largest).
    pad_values: pad value per sequence field (default 0).
    sampling: "shuffle" or "balanced" (see the module docstring).
    classes: [N] class of each example; needed by balanced sampling.
    steps_per_epoch: batches per epoch of balanced sampling.
  """

  examples: Sequence[Mapping[str, np.ndarray]]
  lengths: np.ndarray
  edges: tuple[int, ...]
  batch_size: int
  pad_values: Mapping[str, int] = dataclasses.field(default_factory=dict)
  sampling: str = "shuffle"
  classes: np.ndarray | None = None
  steps_per_epoch: int = 0
  batch_sizes: tuple[int, ...] = ()

  def __post_init__(self):
    if self.batch_sizes and len(self.batch_sizes) != len(self.edges):
      raise ConfigError(f"batch_sizes {self.batch_sizes} needs one size per edge {self.edges}.")
    if len(self.examples) == 0:
      raise DataError("dataset split is empty: check the data directory and filters.")
    if max(self.lengths) > self.edges[-1]:
      raise DataError(
        f"an example has length {max(self.lengths)} > the largest bucket edge "
        f"{self.edges[-1]}: raise data.bucket_edges or filter longer examples."
      )
    if self.sampling not in ("shuffle", "balanced"):
      raise ConfigError(f"unknown sampling {self.sampling!r}; use shuffle or balanced.")
    if self.sampling == "balanced" and (self.classes is None or self.steps_per_epoch < 1):
      raise ConfigError("balanced sampling needs the examples' classes and steps_per_epoch >= 1.")

  def rows_of(self, bucket: int) -> int:
    """Rows of a batch of `bucket`."""
    return self.batch_sizes[bucket] if self.batch_sizes else self.batch_size

  @property
  def bucket_of(self) -> np.ndarray:
    return np.searchsorted(np.asarray(self.edges), self.lengths, side="left")

  def _chunks(self, rng: np.random.Generator | None) -> list[tuple[int, np.ndarray]]:
    buckets = self.bucket_of
    chunks = []
    for b in range(len(self.edges)):
      idx = np.flatnonzero(buckets == b)
      if rng is not None:
        idx = rng.permutation(idx)
      n = self.rows_of(b)
      chunks += [(b, idx[i : i + n]) for i in range(0, len(idx), n)]
    if rng is not None:
      chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    return chunks

  def num_batches(self) -> int:
    return self.steps_per_epoch if self.sampling == "balanced" else len(self._chunks(None))

  def shapes(self) -> set[int]:
    return {self.edges[b] for b in np.unique(self.bucket_of)}

  def batches(
    self,
    *,
    seed: int | None = None,
    epoch: int = 0,
    start: int = 0,
    rows: tuple[int, int] | None = None,
  ) -> Iterator[Batch]:
    """Yields batches; shuffled by (seed, epoch) when seed is given; skips the first `start`.

    rows=(lo, hi): only rows [lo, hi) of each global batch ([hi - lo, ...] arrays, same
    order and time axis as the global batch; of a bucket with its own size, the same
    share: rows [lo * n // batch_size, hi * n // batch_size) of its n); None: all rows.
    """
    if rows is not None:
      lo, hi = rows
      if not 0 <= lo < hi <= self.batch_size:
        raise ConfigError(f"rows={rows} is not a row range of a {self.batch_size}-row batch.")
    rng = None if seed is None else np.random.default_rng([seed, epoch])
    if self.sampling == "balanced":
      yield from self._balanced(np.random.default_rng([seed or 0, epoch]), start, rows)
      return
    for b, idx in self._chunks(rng)[start:]:
      yield self._collate(idx, self.edges[b], rows, self.rows_of(b))

  def _balanced(
    self, rng: np.random.Generator, start: int, rows: tuple[int, int] | None = None
  ) -> Iterator[Batch]:
    classes = np.asarray(self.classes)
    order = np.argsort(classes, kind="stable")  # example ids grouped by class
    _, sizes = np.unique(classes, return_counts=True)
    first = np.cumsum(sizes) - sizes
    c = rng.integers(len(sizes), size=self.steps_per_epoch * self.batch_size)
    ids = order[first[c] + rng.integers(sizes[c])].reshape(self.steps_per_epoch, -1)
    buckets = self.bucket_of
    for idx in ids[start:]:
      yield self._collate(idx, self.edges[buckets[idx].max()], rows)

  def _collate(
    self, idx: np.ndarray, edge: int, rows: tuple[int, int] | None = None, n: int = 0
  ) -> Batch:
    """Rows [lo, hi) (default all) of the `n`-row (default batch_size) batch of examples
    `idx` ([<= n]), padded to [hi - lo, edge]; rows past the end of `idx` are empty
    (index -1)."""
    first = self.examples[idx[0]]  # the fields, also when this range holds only padding
    n = n or self.batch_size
    if rows is not None:
      lo, hi = (r * n // self.batch_size for r in rows)
      idx, n = idx[lo:hi], hi - lo
    out = collate([self.examples[i] for i in idx], first, n, edge, self.pad_values)
    out["index"] = np.full((n,), -1, np.int32)
    out["index"][: len(idx)] = idx
    return out


def collate(
  examples: Sequence[Mapping[str, np.ndarray]],
  template: Mapping[str, np.ndarray],
  n: int,
  edge: int,
  pad_values: Mapping[str, int],
) -> Batch:
  """`examples` (<= n) as one batch of n rows: 1-D fields padded to [n, edge] with their
  pad value (default 0), 0-D fields stacked to [n]; rows past the examples are empty (0;
  an "index" field -1). `template`: an example giving the fields (also when there is none)."""
  out = {}
  for key, value in template.items():
    if np.ndim(value) == 1:
      arr = np.full((n, edge), pad_values.get(key, 0), np.int32)
      for row, example in enumerate(examples):
        seq = example[key]
        arr[row, : len(seq)] = seq
    else:
      arr = np.full((n,), -1 if key == "index" else 0, np.int32)
      arr[: len(examples)] = [example[key] for example in examples]
    out[key] = arr
  return out
