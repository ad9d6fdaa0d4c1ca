"""WMT-style parallel text from `data.dir`: train.<src>/<tgt>, newstest2013 (validation) and
newstest2014 (test), the pair from data.src_lang -> data.tgt_lang; normalised as Multi30k
(optionally lowercased, split on whitespace). Large: stream it (data.pipeline=grain)."""

from __future__ import annotations

import re
from typing import Any

from seq2seq_jax.data.builders.base import Stream, records_for, stream_for, words
from seq2seq_jax.data.builders.datasets import wmt_builder
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.errors import ConfigError

# Its own config.data keys.
KEYS: dict[str, Any] = dict(
  src_lang="en",  # source side: the suffix of its files (train.en, newstest2013.en, ...)
  tgt_lang="de",  # target side (train.de, ...)
)


def builder(data):
  """The tfds builder of the config's language pair."""
  for key in ("src_lang", "tgt_lang"):
    if not re.fullmatch(r"[A-Za-z][A-Za-z_-]*", data[key]):
      raise ConfigError(
        f"data.{key}={data[key]!r} is not a language suffix: set it to the files' suffix, "
        "e.g. en for train.en."
      )
  if data.src_lang == data.tgt_lang:
    raise ConfigError(f"data.src_lang and data.tgt_lang are both {data.src_lang!r}: pick two.")
  return wmt_builder(data.src_lang, data.tgt_lang)


def load(data) -> ParallelText:
  """The three splits in memory (small samples; data.pipeline=grain streams them)."""
  records = records_for(data, builder(data))
  tok = lambda rows: [
    (words(r["src"], data.lowercase), words(r["tgt"], data.lowercase)) for r in rows
  ]
  return ParallelText(tok(records["train"]), tok(records["validation"]), tok(records["test"]))


def stream(data) -> Stream:
  """The record files of the three splits, to stream (data.pipeline=grain)."""
  return stream_for(data, builder(data), "src", "tgt")
