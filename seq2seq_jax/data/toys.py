"""The SRN homework's char toys, embedded (no download).

  char_pairs  English -> Spanish words, one character per token: hello->hola, cat->gato,
              good->bueno (translation; configs/char_seq2seq.py)
  hello       the per-step toy: read `hello`, emit `ohlol` (tagging; configs/srn_hello.py)

A toy has a single split's worth of data, so train, validation and test are the
same pairs; `data.repeat` copies them within a training epoch, so an epoch is
`repeat` optimiser steps rather than one (the loop checkpoints once per epoch).
"""

from __future__ import annotations

from seq2seq_jax.data.registry import ParallelText

CHAR_PAIRS = (("hello", "hola"), ("cat", "gato"), ("good", "bueno"))
TAGGED = {"hello": (("hello", "ohlol"),)}


def char_pairs(data) -> ParallelText:
  pairs = [(list(src), list(tgt)) for src, tgt in CHAR_PAIRS]
  return ParallelText(pairs * max(data.get("repeat", 1), 1), pairs, pairs)


def tagged(data) -> dict[str, list[tuple[list[str], list[str]]]]:
  """{split: [(input chars, one label per char)]} of the toy named `data.name`."""
  seqs = [(list(x), list(y)) for x, y in TAGGED[data.name]]
  return {"train": seqs * max(data.get("repeat", 1), 1), "validation": seqs, "test": seqs}
