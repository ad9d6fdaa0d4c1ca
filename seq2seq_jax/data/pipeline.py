"""Numpy input pipeline: bucket by length, pad to a few fixed shapes, shuffle from a seed.

Every batch has `batch_size` rows and a time axis padded to one of `edges`, so a
jitted step compiles at most once per edge. The last batch of a bucket is filled
with empty rows (`index == -1`, lengths 0) that carry no loss weight, so no
example is dropped and no new shape appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from seq2seq_jax.errors import DataError

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BucketedDataset:
  """Examples (dicts of 1-D int arrays and scalars) batched into fixed shapes.

  Attributes:
    examples: per-example fields; 1-D arrays are sequences (padded to the
      bucket edge), 0-D values are stacked.
    lengths: [N] the length used to pick each example's bucket.
    edges: increasing bucket edges; an example goes to the first edge >= its length.
    batch_size: rows per batch (a multiple of the device count).
    pad_values: pad value per sequence field (default 0).
  """

  examples: Sequence[Mapping[str, np.ndarray]]
  lengths: np.ndarray
  edges: tuple[int, ...]
  batch_size: int
  pad_values: Mapping[str, int] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if len(self.examples) == 0:
      raise DataError("dataset split is empty: check the data directory and filters.")
    if max(self.lengths) > self.edges[-1]:
      raise DataError(f"an example has length {max(self.lengths)} > the largest bucket edge "
                      f"{self.edges[-1]}: raise data.max_len or filter longer sentences.")

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
      chunks += [(b, idx[i:i + self.batch_size]) for i in range(0, len(idx), self.batch_size)]
    if rng is not None:
      chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    return chunks

  def num_batches(self) -> int:
    return len(self._chunks(None))

  def shapes(self) -> set[int]:
    return {self.edges[b] for b in np.unique(self.bucket_of)}

  def batches(self, *, seed: int | None = None, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
    """Yields batches; shuffled by (seed, epoch) when seed is given; skips the first `start`."""
    rng = None if seed is None else np.random.default_rng([seed, epoch])
    for b, idx in self._chunks(rng)[start:]:
      yield self._collate(idx, self.edges[b])

  def _collate(self, idx: np.ndarray, edge: int) -> Batch:
    first = self.examples[idx[0]]
    out = {}
    for key, value in first.items():
      value = np.asarray(value)
      if value.ndim == 1:
        arr = np.full((self.batch_size, edge), self.pad_values.get(key, 0), np.int32)
        for row, i in enumerate(idx):
          seq = self.examples[i][key]
          arr[row, :len(seq)] = seq
      else:
        arr = np.zeros((self.batch_size,), np.int32)
        arr[:len(idx)] = [self.examples[i][key] for i in idx]
      out[key] = arr
    index = np.full((self.batch_size,), -1, np.int32)
    index[:len(idx)] = idx
    out["index"] = index
    return out
