"""The SRN homework's char toys, embedded (no download).

  char_pairs  English -> Spanish words, one character per token: hello->hola, cat->gato,
              good->bueno (translation; configs/char_seq2seq.py)
  hello       the per-step toy: read `hello`, emit `ohlol` (tagging; configs/srn_hello.py)

A toy has a single split's worth of data, so train, validation and test are the
same pairs; `data.repeat` copies them within a training epoch, so an epoch is
`repeat` optimiser steps rather than one (the loop checkpoints once per epoch).
"""

from __future__ import annotations

from typing import Any

from seq2seq_jax.data.types import ParallelText, TaggedSplits

CHAR_PAIRS = (("hello", "hola"), ("cat", "gato"), ("good", "bueno"))
HELLO = (("hello", "ohlol"),)

# Their own config.data keys.
KEYS: dict[str, Any] = dict(
  repeat=1,  # copies of the toy's pairs per training epoch
)


def _repeat(data) -> int:
  # .get: a data block not made by data_config (an older run's config.json) may lack it.
  return max(data.repeat, 1)


def char_pairs(data) -> ParallelText:
  pairs = [(list(src), list(tgt)) for src, tgt in CHAR_PAIRS]
  return ParallelText(pairs * _repeat(data), pairs, pairs)


def hello(data) -> TaggedSplits:
  """{split: [(input chars, one label per char)]} of the hello toy."""
  seqs = [(list(x), list(y)) for x, y in HELLO]
  return {"train": seqs * _repeat(data), "validation": seqs, "test": seqs}
