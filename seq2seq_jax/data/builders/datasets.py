"""The tfds builders: Multi30k (de/en line pairs), TatoebaPairs (eng-fra.txt), NamesFolder
(one <Label>.txt per language) and Wmt (WMT-style parallel files, streamed)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from seq2seq_jax.data.builders.base import Record, SourceBuilder, read_lines, required_file
from seq2seq_jax.errors import DataError


class Multi30k(SourceBuilder):
  """Multi30k task 1 raw German-English pairs."""

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
      required_file(source_dir / f"{stem}.{lang}", cls.DATASET, cls.EXPECTED)
      for stem in cls.SPLIT_FILES.values()
      for lang in ("de", "en")
    ]

  def read_source(self) -> dict[str, list[Record]]:
    out = {}
    for split, stem in self.SPLIT_FILES.items():
      de_path, en_path = (self._source_dir / f"{stem}.{lang}" for lang in ("de", "en"))
      de, en = read_lines(de_path), read_lines(en_path)
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


class TatoebaPairs(SourceBuilder):
  """English-French Tatoeba pairs (PyTorch seq2seq tutorial `eng-fra.txt`)."""

  DATASET = "tatoeba_pairs"
  FEATURES: ClassVar[dict[str, str]] = {"eng": "text", "fra": "text", "index": "int64"}
  FILE = "eng-fra.txt"
  DESCRIPTION = "English-French sentence pairs from Tatoeba via manythings.org."
  HOMEPAGE = "https://pytorch.org/tutorials/intermediate/seq2seq_translation_tutorial.html"
  EXPECTED = "eng-fra.txt (one 'English<TAB>French' pair per line)"

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    return [required_file(source_dir / cls.FILE, cls.DATASET, cls.EXPECTED)]

  def read_source(self) -> dict[str, list[Record]]:
    path = self._source_dir / self.FILE
    records = []
    for i, line in enumerate(read_lines(path)):
      cols = line.split("\t")
      if len(cols) != 2:
        raise DataError(
          f"tatoeba_pairs: {path}, line {i + 1}: expected 'English<TAB>French' "
          f"(exactly one TAB) but found {len(cols) - 1} TABs: {line[:80]!r}. "
          "Fix or remove that line."
        )
      records.append({"eng": cols[0], "fra": cols[1], "index": i})
    return {"train": records}


class NamesFolder(SourceBuilder):
  """Names labelled by language: a folder of `<Label>.txt`, one name per line.

  Labels are sorted; `index` is the 0-based line number within the label's file.
  """

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
    return [required_file(p, cls.DATASET, cls.EXPECTED) for p in files]

  def read_source(self) -> dict[str, list[Record]]:
    records = []
    for path in self.source_files(self._source_dir):
      records.extend(
        {"name": line, "label": path.stem, "index": i} for i, line in enumerate(read_lines(path))
      )
    return {"train": records}


def count_lines(path: Path) -> int:
  """Lines of a text file, streamed (a last line without its '\\n' counts)."""
  n, last = 0, b"\n"
  with path.open("rb") as f:
    while chunk := f.read(1 << 20):
      n += chunk.count(b"\n")
      last = chunk[-1:]
  return n + (last != b"\n")


def stream_lines(path: Path) -> Iterator[str]:
  """The lines of a UTF-8 file, one at a time, without '\\n' / '\\r\\n' (as `read_lines`)."""
  with path.open("rb") as f:
    for i, raw in enumerate(f):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(
          f"Data file {path}, line {i + 1}: not valid UTF-8 ({e.reason}). "
          "Re-save the file as UTF-8."
        ) from None
      yield line.removesuffix("\n").removesuffix("\r")


class Wmt(SourceBuilder):
  """WMT-style parallel text: `<stem>.<src>` / `<stem>.<tgt>` line pairs, streamed (never
  all in memory). A language pair is a subclass made by `wmt_builder(src, tgt)`; records
  are {"src", "tgt", "index"} (index: the 0-based line)."""

  DATASET = "wmt"
  FEATURES: ClassVar[dict[str, str]] = {"src": "text", "tgt": "text", "index": "int64"}
  SPLIT_FILES: ClassVar[dict[str, str]] = {
    "train": "train",
    "validation": "newstest2013",
    "test": "newstest2014",
  }
  SRC: ClassVar[str] = "en"
  TGT: ClassVar[str] = "de"
  DESCRIPTION = "WMT-style parallel text (e.g. WMT14 en-de), from local files."
  HOMEPAGE = "https://www.statmt.org/wmt14/translation-task.html"
  EXPECTED = "train.<src>/.<tgt>, newstest2013.<src>/.<tgt> and newstest2014.<src>/.<tgt>"

  @classmethod
  def paths(cls, source_dir: Path, stem: str) -> tuple[Path, Path]:
    return source_dir / f"{stem}.{cls.SRC}", source_dir / f"{stem}.{cls.TGT}"

  @classmethod
  def source_files(cls, source_dir: Path) -> list[Path]:
    expected = cls.EXPECTED.replace("<src>", cls.SRC).replace("<tgt>", cls.TGT)
    return [
      required_file(p, cls.DATASET, expected)
      for stem in cls.SPLIT_FILES.values()
      for p in cls.paths(source_dir, stem)
    ]

  def _split_generators(self, dl_manager):
    del dl_manager
    if self._source_dir is None:
      raise DataError(f"{self.DATASET}: no source_dir given to prepare from.")
    self.source_files(self._source_dir)
    for stem in self.SPLIT_FILES.values():  # every split checked before a record is written
      src, tgt = self.paths(self._source_dir, stem)
      n_src, n_tgt = count_lines(src), count_lines(tgt)
      if n_src != n_tgt:
        longer, shorter = (src, tgt) if n_src > n_tgt else (tgt, src)
        raise DataError(
          f"wmt: {src} has {n_src} lines but {tgt} has {n_tgt}; line {min(n_src, n_tgt) + 1} "
          f"of {longer} has no aligned line in {shorter}. The two sides of a split must be "
          "line-aligned: fix them (or re-extract the corpus)."
        )
    return {
      split: self._pairs(*self.paths(self._source_dir, stem))
      for split, stem in self.SPLIT_FILES.items()
    }

  def _pairs(self, src: Path, tgt: Path) -> Iterator[tuple[int, Record]]:
    for i, (s, t) in enumerate(zip(stream_lines(src), stream_lines(tgt), strict=True)):
      yield i, {"src": s, "tgt": t, "index": i}


@functools.cache
def wmt_builder(src: str, tgt: str) -> type[Wmt]:
  """The Wmt builder of the language pair src -> tgt (one class per pair)."""
  return type(f"Wmt_{src}_{tgt}", (Wmt,), {"SRC": src, "TGT": tgt}, skip_registration=True)
