"""The tfds builder base, its cache (keyed on a fingerprint of the sources) and reading
prepared records back.

Each builder reads a local source folder and writes array_record files that are
read back with `tfds.data_source` (no TensorFlow needed). `read_records(cls, ...)`
finds (or downloads and verifies) the source, prepares the dataset once under
`cache_dir` and returns plain python records; `registry.load_records(name, ...)`
does the same by builder name.

Cache layout (`cache_dir/<name>/<fingerprint>/` is the tfds `data_dir`)::

  cache_dir/multi30k/<fp>/s2s_multi30k/1.0.0/*.array_record
  cache_dir/downloads/raw/<url-hash>-<file>       downloaded archives
  cache_dir/downloads/<name>-<key>/               verified, extracted sources

The fingerprint hashes the names and sha256 of every source file the builder
reads, so changed sources get a fresh cache and never serve stale records.
tfds writes into an `incomplete.*` folder and renames it when done, so a failed
preparation leaves nothing that a later call trusts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils
from tensorflow_datasets.proto import tf_example_pb2

from seq2seq_jax.data.builders import download as dl
from seq2seq_jax.errors import DataError

_log = logging.getLogger(__name__)

Record = dict[str, Any]


def default_cache_dir() -> str:
  return os.environ.get("SEQ2SEQ_JAX_CACHE", str(Path.home() / ".cache" / "seq2seq_jax"))


# --------------------------------------------------------------------------- #
# Reading and validating source files.
# --------------------------------------------------------------------------- #


def read_lines(path: Path) -> list[str]:
  """Returns the lines of a UTF-8 file without their '\\n' / '\\r\\n' endings.

  Splits on '\\n' only (not `str.splitlines`, which also splits on characters
  such as U+2028 and would break line alignment).
  """
  data = path.read_bytes()
  if not data.strip():
    raise DataError(
      f"Data file {path} is empty; it should hold one example per line. "
      "Restore the file (or re-download the dataset) or point --config.data.dir "
      "at a complete copy."
    )
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise DataError(
      f"Data file {path}, line {line}: not valid UTF-8 ({e.reason}). Re-save the file as UTF-8."
    ) from None
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()
  return [x[:-1] if x.endswith("\r") else x for x in lines]


def required_file(path: Path, dataset: str, expected: str) -> Path:
  """Checks that `path` is an existing, non-empty file."""
  if not path.is_file():
    raise DataError(
      f"{dataset}: required file {path} is missing. The data folder must hold "
      f"{expected}; point --config.data.dir at such a folder or allow "
      "downloading (--config.data.download=True)."
    )
  if path.stat().st_size == 0:
    raise DataError(
      f"{dataset}: required file {path} is empty. Restore it (or re-download "
      "the dataset) or point --config.data.dir at a complete copy."
    )
  return path


# --------------------------------------------------------------------------- #
# The builder base.
# --------------------------------------------------------------------------- #


class _LocalDatasetInfo(tfds.core.DatasetInfo):
  """DatasetInfo that never looks for GCS metadata (tfds would leak a tmp dir)."""

  def initialize_from_bucket(self) -> None:
    return None


_FEATURE_TYPES = {
  "text": lambda: tfds.features.Text(),
  "int64": lambda: tfds.features.Scalar(dtype=np.int64),
}


class SourceBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base: reads a local `source_dir`; records keep file order (no shuffling).

  A subclass sets DATASET (the builder's name in `load_records`); its tfds name is
  `s2s_<DATASET>`.
  """

  # Part of the cache path: bump it when parsing or features change.
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
  # Feature name -> "text" | "int64", in record key order.
  FEATURES: ClassVar[dict[str, str]] = {}
  DATASET: ClassVar[str] = ""  # The `load_records` name.
  DESCRIPTION: ClassVar[str] = ""
  HOMEPAGE: ClassVar[str] = ""
  EXPECTED: ClassVar[str] = ""  # What a source folder must hold (for errors).

  def __init_subclass__(cls, **kwargs: Any):
    cls.name = f"s2s_{cls.DATASET}"  # Before tfds registers the class under its name.
    super().__init_subclass__(**kwargs)

  def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs: Any):
    self._source_dir = Path(source_dir) if source_dir is not None else None
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return _LocalDatasetInfo(
      builder=self,
      description=self.DESCRIPTION,
      homepage=self.HOMEPAGE,
      features=tfds.features.FeaturesDict(
        {k: _FEATURE_TYPES[v]() for k, v in self.FEATURES.items()}
      ),
      disable_shuffling=True,
    )

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    """Files the builder reads; raises DataError if one is missing or empty."""
    raise NotImplementedError

  def read_source(self) -> dict[str, list[Record]]:
    """Parses and validates the source folder -> {split: records}."""
    raise NotImplementedError

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Sources are local (downloads are fetched by `read_records`).
    if self._source_dir is None:
      raise DataError(f"{self.DATASET}: no source_dir given to prepare from.")
    # Parse everything first so bad data fails before tfds writes any record.
    splits = self.read_source()
    return {split: self._generate_examples(records) for split, records in splits.items()}

  def _generate_examples(self, records: Sequence[Record]) -> Iterator[tuple[int, Record]]:
    yield from enumerate(records)

  # tfds prints these with termcolor to stdout; log them instead.
  def _log_download_bytes(self) -> None:
    _log.info("Preparing %s into %s", self.name, self.data_dir)

  def _log_download_done(self) -> None:
    _log.info("Prepared %s in %s", self.name, self.data_dir)


# --------------------------------------------------------------------------- #
# Preparing (once, cached) and reading records.
# --------------------------------------------------------------------------- #


def source_fingerprint(files: Sequence[Path], source_dir: Path) -> str:
  """sha256 over the relative names and contents of the source files."""
  h = hashlib.sha256()
  for p in files:
    h.update(f"{p.relative_to(source_dir).as_posix()}\0{dl.sha256(p)}\n".encode())
  return h.hexdigest()


def _resolve_source(
  cls: type[SourceBuilder], source_dir: str | os.PathLike | None, cache_dir: Path, allow: bool
) -> Path:
  """Returns the local source folder, downloading it if needed and `allow`ed."""
  name = cls.DATASET
  if source_dir is not None and Path(source_dir).exists():
    if not Path(source_dir).is_dir():
      raise DataError(
        f"{name}: data path {source_dir} is not a directory. Set "
        f"--config.data.dir=... to a folder holding {cls.EXPECTED}."
      )
    return Path(source_dir)
  if allow:
    return dl.download_source(name, cache_dir / "downloads")
  where = (
    f"data directory {source_dir} does not exist"
    if source_dir is not None
    else "no data directory was given"
  )
  raise DataError(
    f"{name}: {where}. Set --config.data.dir=... to a folder holding {cls.EXPECTED}, "
    "or allow downloading (--config.data.download=True) to fetch it from "
    f"{dl.source_url(name)}."
  )


@contextlib.contextmanager
def _quiet_tfds() -> Iterator[None]:
  """Hides tfds progress bars while preparing/reading."""
  active = getattr(tqdm_utils, "_active", True)
  tfds.display_progress_bar(False)
  try:
    yield
  finally:
    tfds.display_progress_bar(active)


def _decode(raw: bytes, features: dict[str, str], proto: Any) -> Record:
  """Parses one serialized tf.Example into python str/int values."""
  proto.ParseFromString(raw)
  feature = proto.features.feature
  return {
    k: (
      feature[k].bytes_list.value[0].decode("utf-8")
      if kind == "text"
      else int(feature[k].int64_list.value[0])
    )
    for k, kind in features.items()
  }


@contextlib.contextmanager
def _writer_in_memory() -> Iterator[None]:
  """tfds's writer holds a split's serialized records in memory up to 1 GB, then spills
  them to temporary bucket files through tf.io.gfile, i.e. TensorFlow, which this project
  does not install (a WMT-sized split failed with "No module named 'tensorflow'"). The
  spill only serves tfds's shuffling, and our builders keep file order
  (disable_shuffling), so the limit is lifted while a dataset is prepared: preparation
  then holds the split's records once (about 1.3 GB for 4 M generated pairs)."""
  from tensorflow_datasets.core import shuffle

  limit = shuffle.MAX_MEM_BUFFER_SIZE
  shuffle.MAX_MEM_BUFFER_SIZE = 1 << 62
  try:
    yield
  finally:
    shuffle.MAX_MEM_BUFFER_SIZE = limit


def prepare(
  cls: type[SourceBuilder], source_dir: str | None, cache_dir: str, *, download: bool = False
) -> tuple[SourceBuilder, Path]:
  """Prepares (once, cached under cache_dir) the dataset of builder `cls`; returns the
  prepared builder and its source folder (`read_records` documents the arguments)."""
  cache = Path(cache_dir)
  src = _resolve_source(cls, source_dir, cache, download)
  fingerprint = source_fingerprint(cls.source_files(src), src)
  data_dir = cache / cls.DATASET / fingerprint[:16]
  with _quiet_tfds(), _writer_in_memory():
    builder = cls(data_dir=os.fspath(data_dir), source_dir=src, file_format="array_record")
    try:
      builder.download_and_prepare(
        download_dir=os.fspath(cache / "downloads"),
        download_config=tfds.download.DownloadConfig(
          try_download_gcs=False,
          compute_stats=tfds.download.ComputeStatsMode.SKIP,
        ),
      )
    except OSError:
      # A concurrent process may have renamed its finished copy into place first.
      if not (builder.data_path / "dataset_info.json").exists():
        raise
  return builder, src


def record_files(builder: SourceBuilder) -> dict[str, list[str]]:
  """{split: its array_record files, in record order} of a prepared builder."""
  return {
    name: [os.fspath(p) for p in split.filepaths] for name, split in builder.info.splits.items()
  }


def record_counts(builder: SourceBuilder) -> dict[str, list[int]]:
  """{split: the records in each of its files} of a prepared builder."""
  return {name: list(split.shard_lengths) for name, split in builder.info.splits.items()}


def read_records(
  cls: type[SourceBuilder], source_dir: str | None, cache_dir: str, *, download: bool = False
) -> dict[str, list[dict]]:
  """Prepares (once, cached under cache_dir) and reads the dataset of builder `cls`.

  Args:
    cls: the builder (registry.builder(name) finds it by name).
    source_dir: local folder with the raw files; None (or a missing folder)
      downloads them when `download` is True.
    cache_dir: where prepared array_record files (and downloads) are kept,
      keyed on a fingerprint of the source files' contents.
    download: allow fetching and checksum-verifying the upstream files.

  Returns:
    {split: [record dicts with python str/int values]} in file order.

  Raises:
    DataError: missing source, missing/empty/malformed file, failed download or
      checksum mismatch.
  """
  builder, _ = prepare(cls, source_dir, cache_dir, download=download)
  with _quiet_tfds():
    sources = builder.as_data_source(deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    proto = tf_example_pb2.Example()
    return {
      split: [_decode(r, cls.FEATURES, proto) for r in ds.__getitems__(range(len(ds)))]
      for split, ds in sources.items()
    }


@dataclasses.dataclass(frozen=True)
class Stream:
  """A prepared parallel dataset for streaming: each split's array_record files (records
  are serialized tf.Examples) and `text`, which parses one into (source, target) words."""

  files: dict[str, list[str]]
  text: RecordText
  counts: dict[str, list[int]]  # records per file

  def source(self, split: str):
    """The split's records, random access (grain's ArrayRecordDataSource). The files'
    record counts are given, so no file is opened before its first read (opening one
    loads its index: 32 bytes a record)."""
    import grain

    if split not in self.files:
      raise DataError(f"the dataset has no {split} split; it has {', '.join(self.files)}.")
    ranges = [f"{f}[0:{n}]" for f, n in zip(self.files[split], self.counts[split])]
    return grain.sources.ArrayRecordDataSource(ranges)


@dataclasses.dataclass(frozen=True)
class RecordText:
  """A serialized record -> (source words, target words): the text features `src` and
  `tgt`, optionally lowercased, split on whitespace. Picklable (runs in grain workers)."""

  src: str
  tgt: str
  lowercase: bool = True

  def __call__(self, raw: bytes) -> tuple[list[str], list[str]]:
    proto = tf_example_pb2.Example()
    proto.ParseFromString(raw)
    feature = proto.features.feature
    side = lambda k: words(feature[k].bytes_list.value[0].decode("utf-8"), self.lowercase)
    return side(self.src), side(self.tgt)


def words(text: str, lowercase: bool) -> list[str]:
  """The text's whitespace-separated words, lowercased first when `lowercase`."""
  return (text.lower() if lowercase else text).split()


def stream_for(data, cls: type[SourceBuilder], src: str, tgt: str) -> Stream:
  """The prepared (once, cached) record files of builder `cls` for a config.data block, to
  stream the text features `src` -> `tgt` (data.lowercase)."""
  builder, _ = prepare(
    cls, data.dir or None, data.cache_dir or default_cache_dir(), download=data.download
  )
  return Stream(record_files(builder), RecordText(src, tgt, data.lowercase), record_counts(builder))


def records_for(data, cls: type[SourceBuilder]) -> dict[str, list[dict]]:
  """`read_records` for a config.data block: its dir, cache_dir (or the default) and
  download flag."""
  return read_records(
    cls, data.dir or None, data.cache_dir or default_cache_dir(), download=data.download
  )
