"""Dataset registry: every dataset name -> one `Dataset` entry (task kind, loader, tfds
builder, own config keys). Tasks get their data only through it:

  load_parallel(config.data)  -> ParallelText   (translation)
  load_labelled(config.data)  -> LabelledText   (classification)
  load_tagged(config.data)    -> TaggedSplits   (tagging)

each refusing, with a ConfigError that lists the known ones, a name not of its kind, and

  stream_parallel(config.data) -> builders.base.Stream   (data.pipeline=grain: record files)

for the translation datasets with a tfds builder.

  numbers       embedded default: English number words -> French (sources/numbers.py)
  multi30k      Multi30k task 1 de->en (tfds builder over a local dir / upstream files)
  wmt           WMT-style parallel files in data.dir (train, newstest2013/2014), en->de
  eng_fra       the PyTorch tutorial's filtered eng-fra pairs, fra->eng (sources/tatoeba.py)
  eng_fra_full  all eng-fra pairs, no prefix filter, held-out splits (sources/tatoeba.py)
  char_pairs    the char seq2seq toy's words, hello->hola ... (embedded, sources/toys.py)
  names         surnames by language, one <Language>.txt per label (sources/names.py)
  hello         the SRN toy: read `hello`, emit `ohlol`, per step (sources/toys.py)

`builder(name)` finds a tfds builder by its name (multi30k, tatoeba_pairs, names_folder)
among the entries; `load_records(name, ...)` prepares and reads one. A new dataset is
one source module and one entry here (config/data.py takes its keys from the entry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from seq2seq_jax.data.builders.base import SourceBuilder, Stream, read_records
from seq2seq_jax.data.builders.datasets import Multi30k, NamesFolder, TatoebaPairs, Wmt
from seq2seq_jax.data.sources import multi30k, names, numbers, tatoeba, toys, wmt
from seq2seq_jax.data.types import LabelledText, ParallelText, TaggedSplits
from seq2seq_jax.errors import ConfigError, DataError

TRANSLATION, CLASSIFICATION, TAGGING = "translation", "classification", "tagging"


@dataclasses.dataclass(frozen=True)
class Dataset:
  """One dataset: what task reads it, how to load it, and its own config keys."""

  name: str
  kind: str  # translation | classification | tagging
  load: Callable[[Any], Any]  # config.data -> ParallelText | LabelledText | TaggedSplits
  keys: Mapping[str, Any]  # its own config.data keys -> defaults (config/data.py)
  builder: type[SourceBuilder] | None = None  # the tfds builder of its raw files
  stream: Callable[[Any], Stream] | None = None  # config.data -> its record files (grain)


DATASETS: dict[str, Dataset] = {
  d.name: d
  for d in (
    Dataset("numbers", TRANSLATION, numbers.load, numbers.KEYS),
    Dataset("multi30k", TRANSLATION, multi30k.load, multi30k.KEYS, Multi30k, multi30k.stream),
    Dataset("wmt", TRANSLATION, wmt.load, wmt.KEYS, Wmt, wmt.stream),
    Dataset("eng_fra", TRANSLATION, tatoeba.load_tutorial, tatoeba.TUTORIAL_KEYS, TatoebaPairs),
    Dataset("eng_fra_full", TRANSLATION, tatoeba.load_full, tatoeba.FULL_KEYS, TatoebaPairs),
    Dataset("char_pairs", TRANSLATION, toys.char_pairs, toys.KEYS),
    Dataset("names", CLASSIFICATION, names.load, names.KEYS, NamesFolder),
    Dataset("hello", TAGGING, toys.hello, toys.KEYS),
  )
}


def known(kind: str) -> list[str]:
  """The sorted names of the datasets of task `kind`."""
  return sorted(d.name for d in DATASETS.values() if d.kind == kind)


def entry(name: str, kind: str, hint: str = "Set --config.data.name=<one of them>.") -> Dataset:
  """The entry of dataset `name`; ConfigError if there is none of task `kind`."""
  d = DATASETS.get(name)
  if d is None or d.kind != kind:
    raise ConfigError(
      f"unknown dataset {name!r} for {kind}; known: {', '.join(known(kind))}. {hint}"
    )
  return d


def load_parallel(data) -> ParallelText:
  """Loads the translation dataset named by `config.data.name`."""
  return entry(data.name, TRANSLATION).load(data)


def load_labelled(data) -> LabelledText:
  """Loads the classification dataset named by `config.data.name`."""
  return entry(data.name, CLASSIFICATION).load(data)


def load_tagged(data) -> TaggedSplits:
  """Loads the tagging dataset named by `config.data.name`."""
  return entry(data.name, TAGGING, "Set --config.data.name.").load(data)


def stream_parallel(data) -> Stream:
  """The record files of the translation dataset `config.data.name` (data.pipeline=grain)."""
  d = entry(data.name, TRANSLATION)
  if d.stream is None:
    streamed = sorted(x.name for x in DATASETS.values() if x.stream)
    raise ConfigError(
      f"data.pipeline=grain streams prepared record files; {data.name!r} has none (it is "
      f"small and embedded): use data.pipeline=memory, or one of {', '.join(streamed)}."
    )
  return d.stream(data)


def builder(name: str) -> type[SourceBuilder]:
  """The tfds builder called `name` (its DATASET) by one of the entries."""
  builders = {d.builder.DATASET: d.builder for d in DATASETS.values() if d.builder}
  if name not in builders:
    raise DataError(
      f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(builders))}; pick one of those."
    )
  return builders[name]


def load_records(
  name: str, source_dir: str | None, cache_dir: str, *, download: bool = False
) -> dict[str, list[dict]]:
  """Prepares (once, cached) and reads the records of tfds builder `name` (builders/base.py's
  `read_records`): {split: [record dicts]} in file order."""
  return read_records(builder(name), source_dir, cache_dir, download=download)
