"""Dataset registry: a dataset name -> tokenised parallel text splits.

  numbers   embedded default: English number words -> French (generated, no download)
  multi30k  Multi30k task 1 de->en (tfds builder over a local dir / upstream files)
  eng_fra   the PyTorch tutorial's filtered eng-fra pairs, fra->eng (data/eng_fra.py)
  eng_fra_full  all eng-fra pairs, no prefix filter, held-out splits (data/eng_fra.py)
  char_pairs    the char seq2seq toy's words, hello->hola ... (embedded, data/toys.py)

and a dataset name -> labelled texts (classification):

  names     surnames by language, one <Language>.txt per label (names_folder builder)

Text is normalised the way each tutorial does (Multi30k: lowercase, split on
whitespace; names: Unicode -> the char-RNN tutorial's 57 ascii letters). Other
tasks register their own loaders here.
"""

from __future__ import annotations

import dataclasses
import os
import string
import unicodedata
from collections.abc import Callable
from pathlib import Path

from seq2seq_jax.errors import ConfigError

Pair = tuple[list[str], list[str]]


@dataclasses.dataclass(frozen=True)
class ParallelText:
  """Tokenised sentence pairs per split, in file order."""

  train: list[Pair]
  validation: list[Pair]
  test: list[Pair]

  def split(self, name: str) -> list[Pair]:
    return getattr(self, name)


def default_cache_dir() -> str:
  return os.environ.get("SEQ2SEQ_JAX_CACHE", str(Path.home() / ".cache" / "seq2seq_jax"))


def _numbers(data) -> ParallelText:
  from seq2seq_jax.data import synthetic

  splits = synthetic.make_splits(
    data.num_train, data.num_valid, data.num_test, max_value=data.max_value, seed=data.seed
  )
  tok = lambda pairs: [(en.split(), fr.split()) for en, fr in pairs]
  return ParallelText(tok(splits["train"]), tok(splits["validation"]), tok(splits["test"]))


def _multi30k(data) -> ParallelText:
  from seq2seq_jax.data.tfds_builders import load_records

  records = load_records(
    "multi30k", data.dir or None, data.cache_dir or default_cache_dir(), download=data.download
  )
  src, tgt = data.src_lang, data.tgt_lang

  def tok(rows):
    norm = (lambda s: s.lower().split()) if data.lowercase else str.split
    return [(norm(r[src]), norm(r[tgt])) for r in rows]

  return ParallelText(tok(records["train"]), tok(records["validation"]), tok(records["test"]))


def _eng_fra(data) -> ParallelText:
  from seq2seq_jax.data import eng_fra

  return eng_fra.load(data, prefix_filter=data.name == "eng_fra")


def _char_pairs(data) -> ParallelText:
  from seq2seq_jax.data import toys

  return toys.char_pairs(data)


PARALLEL: dict[str, Callable] = {
  "numbers": _numbers,
  "multi30k": _multi30k,
  "eng_fra": _eng_fra,
  "eng_fra_full": _eng_fra,
  "char_pairs": _char_pairs,
}


def load_parallel(data) -> ParallelText:
  """Loads the translation dataset named by `config.data.name`."""
  try:
    loader = PARALLEL[data.name]
  except KeyError:
    known = ", ".join(sorted(PARALLEL))
    raise ConfigError(
      f"unknown dataset {data.name!r} for translation; known: {known}. "
      "Set --config.data.name=<one of them>."
    ) from None
  return loader(data)


# The char-RNN classification tutorial's alphabet: 52 ascii letters and " .,;'".
NAME_LETTERS = string.ascii_letters + " .,;'"


def unicode_to_ascii(text: str) -> str:
  """NFD, drop combining marks and anything outside NAME_LETTERS: 'Ślusàrski' -> 'Slusarski'."""
  return "".join(
    c
    for c in unicodedata.normalize("NFD", text)
    if unicodedata.category(c) != "Mn" and c in NAME_LETTERS
  )


@dataclasses.dataclass(frozen=True)
class LabelledText:
  """Normalised texts with integer labels, in file order; `label_names` sorted.

  `dropped` holds the raw lines that are empty after normalisation (skipped).
  """

  texts: list[str]
  labels: list[int]
  label_names: list[str]
  dropped: list[str]


def _names(data) -> LabelledText:
  from seq2seq_jax.data.tfds_builders import load_records

  records = load_records(
    "names_folder", data.dir or None, data.cache_dir or default_cache_dir(), download=data.download
  )["train"]
  label_names = sorted({r["label"] for r in records})
  label_id = {name: i for i, name in enumerate(label_names)}
  texts, labels, dropped = [], [], []
  for r in records:
    text = unicode_to_ascii(r["name"])
    if text:
      texts.append(text)
      labels.append(label_id[r["label"]])
    else:
      dropped.append(r["name"])
  return LabelledText(texts, labels, label_names, dropped)


LABELLED: dict[str, Callable] = {"names": _names}


def load_labelled(data) -> LabelledText:
  """Loads the classification dataset named by `config.data.name`."""
  try:
    loader = LABELLED[data.name]
  except KeyError:
    known = ", ".join(sorted(LABELLED))
    raise ConfigError(
      f"unknown dataset {data.name!r} for classification; known: {known}. "
      "Set --config.data.name=<one of them>."
    ) from None
  return loader(data)
