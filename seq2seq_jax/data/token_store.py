"""The streamed training split tokenised once, into flat files read by offset: random
access that holds nothing per record in memory.

Why: array_record's reader keeps an in-memory index entry of 32 bytes per record (group
size 1, as grain needs), 128 MB at 4 M pairs, and its on-disk index option reads at tens
of records a second. The store instead keeps its record offsets on disk and reads them
with `os.pread` (not a memory map: mapped pages would count in the process's RSS as an
epoch touches them), two reads a record. Tokenising once also takes the protobuf parsing,
the tokenizer and the vocabulary lookups out of every epoch.

Files (`path` + suffix, in the run directory; each process of a multi-host run has its own):
  .tokens  the ids, record after record: the source's, then the target's (<sos> y <eos>);
           uint16 when both vocabularies have at most 65,536 tokens, else int32
  .index   int64, 2 per record and 1 more: [src start, tgt start] of each record, then the
           end, so record i is index[2i : 2i + 3]
  .json    the key it was built for (record files, vocabularies), dtype, records and the
           length histogram {bucket length: records} (the epoch's batch count)
Written to temporary names and renamed, the .json last: a reader never sees half a store,
and a store whose .json differs from the run's key is built anew.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_jax.errors import DataError
from seq2seq_jax.rundir import atomic_files, write_text

SUFFIXES = ("tokens", "index")


@dataclasses.dataclass(frozen=True)
class TokenStore:
  """Random access to the stored records: item i is (source ids [S], target ids [T + 1]).

  A grain data source (len, getitem, getitems); picklable: each process opens the files
  itself, on its first read.
  """

  path: str
  dtype: str
  records: int
  counts: Mapping[int, int]  # {bucket length: records}
  key: Mapping[str, Any]  # what it was built from (`build`'s key)

  def __len__(self) -> int:
    return self.records

  def _files(self) -> tuple[int, int]:
    """This process's open descriptors of (.index, .tokens)."""
    pid = os.getpid()
    fds = self.__dict__.get("_fds")
    if fds is None or fds[0] != pid:
      try:
        fds = (pid, *(os.open(f"{self.path}.{s}", os.O_RDONLY) for s in ("index", "tokens")))
      except OSError as e:
        raise DataError(
          f"the tokenised training set {self.path}.* cannot be read ({e}): delete "
          f"{self.path}.json and start again, and it is rebuilt."
        ) from e
      object.__setattr__(self, "_fds", fds)
    return fds[1], fds[2]

  def __getstate__(self) -> dict[str, Any]:
    return {k: v for k, v in self.__dict__.items() if k != "_fds"}

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__dict__.update(state)

  def __getitems__(self, indices: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    index, tokens = self._files()
    size = np.dtype(self.dtype).itemsize
    out = []
    for i in indices:
      if not 0 <= i < self.records:
        raise IndexError(f"record {i} of a store of {self.records}")
      offsets = os.pread(index, 24, 16 * int(i))
      src, tgt, end = np.frombuffer(offsets, np.int64) if len(offsets) == 24 else (0, 0, -1)
      data = os.pread(tokens, max(int(end - src), 0) * size, int(src) * size)
      if len(data) != (end - src) * size:  # a short read of either file
        raise DataError(
          f"the tokenised training set {self.path}.* is truncated: delete "
          f"{self.path}.json and start again, and it is rebuilt."
        )
      ids = np.frombuffer(data, self.dtype)
      out.append((ids[: tgt - src], ids[tgt - src :]))
    return out

  def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
    return self.__getitems__([i])[0]


def dtype_for(*vocab_sizes: int) -> str:
  return "uint16" if max(vocab_sizes) <= 1 << 16 else "int32"


def load(path: Path, key: Mapping[str, Any]) -> TokenStore | None:
  """The store at `path` if it was built for `key` and its files are there, else None."""
  meta = Path(f"{path}.json")
  if not meta.exists():
    return None
  saved = json.loads(meta.read_text())
  if saved.get("key") != dict(key) or not all(os.path.exists(f"{path}.{s}") for s in SUFFIXES):
    return None
  counts = {int(n): c for n, c in saved["counts"].items()}
  return TokenStore(os.fspath(path), saved["dtype"], saved["records"], counts, saved["key"])


def build(
  path: Path,
  records: Iterable[tuple[int, np.ndarray, np.ndarray]],
  key: Mapping[str, Any],
  dtype: str,
) -> TokenStore:
  """Writes the store of `records` ((bucket length, source ids, target ids) in record
  order, streamed) to `path`.* (module docstring) and returns it."""
  counts: dict[int, int] = {}
  n = total = 0
  with atomic_files({s: f"{path}.{s}" for s in SUFFIXES}) as out:
    tokens, index = out["tokens"], out["index"]
    for length, src, tgt in records:
      index.write(np.asarray([total, total + len(src)], np.int64).tobytes())
      tokens.write(np.asarray(src, dtype).tobytes() + np.asarray(tgt, dtype).tobytes())
      total += len(src) + len(tgt)
      counts[int(length)] = counts.get(int(length), 0) + 1
      n += 1
    index.write(np.int64(total).tobytes())
  meta = dict(key=dict(key), dtype=dtype, records=n)
  meta["counts"] = {str(k): counts[k] for k in sorted(counts)}
  write_text(Path(f"{path}.json"), json.dumps(meta, indent=0) + "\n")
  return TokenStore(os.fspath(path), dtype, n, counts, meta["key"])
