"""Multi30k task 1 (de <-> en), normalised the tutorial's way: optionally lowercased, split
on whitespace."""

from __future__ import annotations

from typing import Any

from seq2seq_jax.data.builders.base import Stream, records_for, stream_for, words
from seq2seq_jax.data.builders.datasets import Multi30k
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.errors import ConfigError

# Its own config.data keys.
KEYS: dict[str, Any] = dict(
  src_lang="de",  # source side: de | en
  tgt_lang="en",  # target side: de | en
)


def _pair(data) -> tuple[str, str]:
  for key in ("src_lang", "tgt_lang"):
    if data[key] not in ("de", "en"):
      raise ConfigError(f"data.{key}={data[key]!r}: multi30k has de and en; use one of them.")
  return data.src_lang, data.tgt_lang


def load(data) -> ParallelText:
  """The three splits of the raw files under `data.dir` (tfds-prepared, cached)."""
  src, tgt = _pair(data)
  records = records_for(data, Multi30k)

  def tok(rows):
    return [(words(r[src], data.lowercase), words(r[tgt], data.lowercase)) for r in rows]

  return ParallelText(tok(records["train"]), tok(records["validation"]), tok(records["test"]))


def stream(data) -> Stream:
  """The same pairs as `load`, as record files to stream (data.pipeline=grain)."""
  return stream_for(data, Multi30k, *_pair(data))
