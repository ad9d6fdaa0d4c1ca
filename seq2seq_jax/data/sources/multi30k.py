"""Multi30k task 1 (de <-> en), normalised the tutorial's way: optionally lowercased, split
on whitespace."""

from __future__ import annotations

from typing import Any

from seq2seq_jax.data.builders.base import records_for
from seq2seq_jax.data.builders.datasets import Multi30k
from seq2seq_jax.data.types import ParallelText

# Its own config.data keys.
KEYS: dict[str, Any] = dict(
  src_lang="de",  # source side: de | en
  tgt_lang="en",  # target side: de | en
)


def load(data) -> ParallelText:
  """The three splits of the raw files under `data.dir` (tfds-prepared, cached)."""
  records = records_for(data, Multi30k)
  src, tgt = data.src_lang, data.tgt_lang

  def tok(rows):
    norm = (lambda s: s.lower().split()) if data.lowercase else str.split
    return [(norm(r[src]), norm(r[tgt])) for r in rows]

  return ParallelText(tok(records["train"]), tok(records["validation"]), tok(records["test"]))
