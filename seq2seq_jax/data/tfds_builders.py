"""tensorflow-datasets builders for the raw multi30k, eng-fra and names data.

Each builder reads a local source folder and writes array_record files that are
read back with `tfds.data_source` (no TensorFlow needed). `load_records` is the
entry point: it finds (or downloads and verifies) the source, prepares the
dataset once under `cache_dir` and returns plain python records.

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
import gzip
import hashlib
import json
import logging
import os
import posixpath
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2

from seq2seq_jax.errors import DataError

_log = logging.getLogger(__name__)

# Upstream sources; module constants so tests can point them at file:// copies.
MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
PYTORCH_DATA_URL = "https://download.pytorch.org/tutorial/data.zip"

# sha256 of the extracted files (from the READMEs in the shared data folder).
# For names_folder the table also fixes which label files are extracted.
CHECKSUMS: dict[str, dict[str, str]] = {
  "multi30k": {
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
  },
  "tatoeba_pairs": {
    "eng-fra.txt": "6b0f3decdb78600485b58efb541f5a2ab69ba888742ac04180e013084e40de7c",
  },
  "names_folder": {
    "Arabic.txt": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese.txt": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech.txt": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch.txt": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English.txt": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French.txt": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German.txt": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek.txt": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish.txt": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian.txt": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese.txt": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean.txt": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish.txt": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese.txt": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian.txt": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish.txt": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish.txt": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese.txt": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
  },
}

Record = dict[str, Any]


# --------------------------------------------------------------------------- #
# Reading and validating source files.
# --------------------------------------------------------------------------- #


def _read_lines(path: Path) -> list[str]:
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


def _required_file(path: Path, dataset: str, expected: str) -> Path:
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
# Builders.
# --------------------------------------------------------------------------- #


class _LocalDatasetInfo(tfds.core.DatasetInfo):
  """DatasetInfo that never looks for GCS metadata (tfds would leak a tmp dir)."""

  def initialize_from_bucket(self) -> None:
    return None


_FEATURE_TYPES = {
  "text": lambda: tfds.features.Text(),
  "int64": lambda: tfds.features.Scalar(dtype=np.int64),
}


class _SourceBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base: reads a local `source_dir`; records keep file order (no shuffling)."""

  # Part of the cache path: bump it when parsing or features change.
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
  # Feature name -> "text" | "int64", in record key order.
  FEATURES: ClassVar[dict[str, str]] = {}
  DATASET: ClassVar[str] = ""  # The `load_records` name.
  DESCRIPTION: ClassVar[str] = ""
  HOMEPAGE: ClassVar[str] = ""
  EXPECTED: ClassVar[str] = ""  # What a source folder must hold (for errors).

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
    del dl_manager  # Sources are local (downloads are fetched by `load_records`).
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


class Multi30k(_SourceBuilder):
  """Multi30k task 1 raw German-English pairs."""

  name = "s2s_multi30k"
  DATASET = "multi30k"
  FEATURES: ClassVar[dict[str, str]] = {"de": "text", "en": "text", "index": "int64"}
  SPLIT_FILES: ClassVar[dict[str, str]] = {
    "train": "train",
    "validation": "val",
    "test": "test_2016_flickr",
  }
  DESCRIPTION = "Multi30k task 1, raw (untokenized) German-English sentence pairs."
  HOMEPAGE = "https://github.com/multi30k/dataset"
  EXPECTED = "train.de/.en, val.de/.en and test_2016_flickr.de/.en"

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    return [
      _required_file(source_dir / f"{stem}.{lang}", cls.DATASET, cls.EXPECTED)
      for stem in cls.SPLIT_FILES.values()
      for lang in ("de", "en")
    ]

  def read_source(self) -> dict[str, list[Record]]:
    out = {}
    for split, stem in self.SPLIT_FILES.items():
      de_path, en_path = (self._source_dir / f"{stem}.{lang}" for lang in ("de", "en"))
      de, en = _read_lines(de_path), _read_lines(en_path)
      if len(de) != len(en):
        longer, shorter = (de_path, en_path) if len(de) > len(en) else (en_path, de_path)
        line = min(len(de), len(en)) + 1
        raise DataError(
          f"multi30k: {de_path} has {len(de)} lines but {en_path} has {len(en)}; "
          f"line {line} of {longer} has no aligned line in {shorter}. The .de and "
          ".en files of a split must be line-aligned: fix them or re-download."
        )
      out[split] = [
        {"de": d, "en": e, "index": i} for i, (d, e) in enumerate(zip(de, en, strict=True))
      ]
    return out


class TatoebaPairs(_SourceBuilder):
  """English-French Tatoeba pairs (PyTorch seq2seq tutorial `eng-fra.txt`)."""

  name = "s2s_tatoeba_pairs"
  DATASET = "tatoeba_pairs"
  FEATURES: ClassVar[dict[str, str]] = {"eng": "text", "fra": "text", "index": "int64"}
  FILE = "eng-fra.txt"
  DESCRIPTION = "English-French sentence pairs from Tatoeba via manythings.org."
  HOMEPAGE = "https://pytorch.org/tutorials/intermediate/seq2seq_translation_tutorial.html"
  EXPECTED = "eng-fra.txt (one 'English<TAB>French' pair per line)"

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    return [_required_file(source_dir / cls.FILE, cls.DATASET, cls.EXPECTED)]

  def read_source(self) -> dict[str, list[Record]]:
    path = self._source_dir / self.FILE
    records = []
    for i, line in enumerate(_read_lines(path)):
      cols = line.split("\t")
      if len(cols) != 2:
        raise DataError(
          f"tatoeba_pairs: {path}, line {i + 1}: expected 'English<TAB>French' "
          f"(exactly one TAB) but found {len(cols) - 1} TABs: {line[:80]!r}. "
          "Fix or remove that line."
        )
      records.append({"eng": cols[0], "fra": cols[1], "index": i})
    return {"train": records}


class NamesFolder(_SourceBuilder):
  """Names labelled by language: a folder of `<Label>.txt`, one name per line.

  Labels are sorted; `index` is the 0-based line number within the label's file.
  """

  name = "s2s_names_folder"
  DATASET = "names_folder"
  FEATURES: ClassVar[dict[str, str]] = {"name": "text", "label": "text", "index": "int64"}
  DESCRIPTION = "Surnames by language (PyTorch char-RNN classification tutorial)."
  HOMEPAGE = "https://pytorch.org/tutorials/intermediate/char_rnn_classification_tutorial.html"
  EXPECTED = "<Label>.txt files with one name per line"

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    # A README.txt is documentation, not a label.
    files = sorted(
      (p for p in source_dir.glob("*.txt") if p.stem.lower() != "readme"), key=lambda p: p.stem
    )
    if not files:
      raise DataError(
        f"names_folder: no <Label>.txt files in {source_dir}. Point --config.data.dir "
        "at the names/ folder (one <Label>.txt per label) or allow downloading "
        "(--config.data.download=True)."
      )
    return [_required_file(p, cls.DATASET, cls.EXPECTED) for p in files]

  def read_source(self) -> dict[str, list[Record]]:
    records = []
    for path in self.source_files(self._source_dir):
      records.extend(
        {"name": line, "label": path.stem, "index": i} for i, line in enumerate(_read_lines(path))
      )
    return {"train": records}


BUILDERS: dict[str, type[_SourceBuilder]] = {
  "multi30k": Multi30k,
  "tatoeba_pairs": TatoebaPairs,
  "names_folder": NamesFolder,
}


# --------------------------------------------------------------------------- #
# Downloading (urllib, so file:// works too) with checksum verification.
# --------------------------------------------------------------------------- #


def _sha256(path: Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def _urls(name: str) -> dict[str, tuple[str, str]]:
  """Extracted file name -> (url, member in the archive) for dataset `name`."""
  if name == "multi30k":
    return {f: (f"{MULTI30K_URL.rstrip('/')}/{f}.gz", "") for f in sorted(CHECKSUMS[name])}
  prefix = "data/" if name == "tatoeba_pairs" else "data/names/"
  return {f: (PYTORCH_DATA_URL, prefix + f) for f in sorted(CHECKSUMS[name])}


def _download(url: str, raw_dir: Path, name: str) -> Path:
  """Downloads `url` into `raw_dir` once (atomically) and returns the file."""
  key = hashlib.sha256(url.encode()).hexdigest()[:12]
  dest = raw_dir / f"{key}-{posixpath.basename(urllib.parse.urlparse(url).path)}"
  if dest.exists():
    return dest
  raw_dir.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=raw_dir, prefix=dest.name + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as resp:
      shutil.copyfileobj(resp, f)
    os.replace(tmp, dest)
  except (OSError, ValueError) as e:  # URLError/HTTPError are OSErrors.
    raise DataError(
      f"{name}: could not download {url} ({getattr(e, 'reason', e)}). Check the network "
      "connection, or set --config.data.dir=... to a local copy of the data."
    ) from None
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
  return dest


def _extract(archive: Path, member: str, dest: Path, name: str, url: str) -> None:
  """Writes the decompressed file (or zip `member`) of `archive` to `dest`."""
  try:
    if member:
      with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    else:
      with gzip.open(archive, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
  except KeyError:
    raise DataError(
      f"{name}: the archive {url} has no member {member}. Upstream changed its "
      "layout; set --config.data.dir=... to a local copy of the data."
    ) from None
  except (OSError, EOFError, zipfile.BadZipFile) as e:
    archive.unlink(missing_ok=True)  # Corrupt download: fetch again next time.
    raise DataError(
      f"{name}: could not extract {url} ({e}); the download is corrupt. Retry, or "
      "set --config.data.dir=... to a local copy of the data."
    ) from None


def download_source(name: str, downloads_dir: str | os.PathLike) -> Path:
  """Downloads and verifies the source files of `name`; returns their folder.

  The verified folder `downloads_dir/<name>-<key>` (key: hash of URLs and
  checksums) is reused by later calls and only appears once every file has
  been extracted and matched its sha256.
  """
  _builder_cls(name)
  downloads_dir = Path(downloads_dir)
  urls = _urls(name)
  spec = json.dumps([urls, CHECKSUMS[name]], sort_keys=True)
  key = hashlib.sha256(spec.encode()).hexdigest()[:12]
  final = downloads_dir / f"{name}-{key}"
  if final.is_dir():
    return final
  downloads_dir.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=downloads_dir, prefix=f".{name}-{key}.", suffix=".tmp"))
  try:
    for fname, (url, member) in urls.items():
      archive = _download(url, downloads_dir / "raw", name)
      _extract(archive, member, tmp / fname, name, url)
      expected, actual = CHECKSUMS[name][fname], _sha256(tmp / fname)
      if actual != expected:
        archive.unlink(missing_ok=True)  # Fetch again on the next try.
        raise DataError(
          f"{name}: checksum mismatch for {fname} (from {url}{' ' + member if member else ''}): "
          f"expected sha256 {expected}, got {actual}. The download is corrupt or "
          "upstream changed; retry, or set --config.data.dir=... to a verified local copy."
        )
    try:
      tmp.rename(final)
    except OSError:
      if not final.is_dir():  # Else another process finished the same download.
        raise
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return final


# --------------------------------------------------------------------------- #
# Public API.
# --------------------------------------------------------------------------- #


def _builder_cls(name: str) -> type[_SourceBuilder]:
  if name not in BUILDERS:
    raise DataError(
      f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(BUILDERS))}; pick one of those."
    )
  return BUILDERS[name]


def source_fingerprint(files: Sequence[Path], source_dir: Path) -> str:
  """sha256 over the relative names and contents of the source files."""
  h = hashlib.sha256()
  for p in files:
    h.update(f"{p.relative_to(source_dir).as_posix()}\0{_sha256(p)}\n".encode())
  return h.hexdigest()


def _resolve_source(
  name: str, source_dir: str | os.PathLike | None, cache_dir: Path, download: bool
) -> Path:
  """Returns the local source folder, downloading it if needed and allowed."""
  cls = _builder_cls(name)
  if source_dir is not None and Path(source_dir).exists():
    if not Path(source_dir).is_dir():
      raise DataError(
        f"{name}: data path {source_dir} is not a directory. Set "
        f"--config.data.dir=... to a folder holding {cls.EXPECTED}."
      )
    return Path(source_dir)
  if download:
    return download_source(name, cache_dir / "downloads")
  where = (
    f"data directory {source_dir} does not exist"
    if source_dir is not None
    else "no data directory was given"
  )
  url = MULTI30K_URL if name == "multi30k" else PYTORCH_DATA_URL
  raise DataError(
    f"{name}: {where}. Set --config.data.dir=... to a folder holding {cls.EXPECTED}, "
    f"or allow downloading (--config.data.download=True) to fetch it from {url}."
  )


@contextlib.contextmanager
def _quiet_tfds() -> Iterator[None]:
  """Hides tfds progress bars while preparing/reading."""
  from tensorflow_datasets.core.utils import tqdm_utils

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


def load_records(
  name: str, source_dir: str | None, cache_dir: str, *, download: bool = False
) -> dict[str, list[dict]]:
  """Prepares (once, cached under cache_dir) and reads dataset `name`.

  Args:
    name: "multi30k", "tatoeba_pairs" or "names_folder".
    source_dir: local folder with the raw files; None (or a missing folder)
      downloads them when `download` is True.
    cache_dir: where prepared array_record files (and downloads) are kept,
      keyed on a fingerprint of the source files' contents.
    download: allow fetching and checksum-verifying the upstream files.

  Returns:
    {split: [record dicts with python str/int values]} in file order.

  Raises:
    DataError: unknown name, missing source, missing/empty/malformed file,
      failed download or checksum mismatch.
  """
  cls = _builder_cls(name)
  cache = Path(cache_dir)
  src = _resolve_source(name, source_dir, cache, download)
  fingerprint = source_fingerprint(cls.source_files(src), src)
  data_dir = cache / name / fingerprint[:16]
  with _quiet_tfds():
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
    sources = tfds.data_source(
      builder.name,
      data_dir=os.fspath(data_dir),
      download=False,
      builder_kwargs={"source_dir": src},
      deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
    )
    proto = tf_example_pb2.Example()
    return {
      split: [_decode(r, cls.FEATURES, proto) for r in ds.__getitems__(range(len(ds)))]
      for split, ds in sources.items()
    }
