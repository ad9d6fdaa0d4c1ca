"""Tatoeba's eng-fra pairs (the PyTorch seq2seq tutorial's `eng-fra.txt`), normalised its way.

  eng_fra       the tutorial's subset: both sides < `max_words` (10) words and English
                starting with "i am ", "he is", ... (10,853 pairs); fra -> eng
  eng_fra_full  every pair (no prefix filter; `max_words` 0 = no length filter)

Normalisation as the tutorial: lowercase, strip, NFD without combining marks, `.!?`
split off with a space, any other run of non-letters -> one space; tokens are the
space-separated words. Splits (pairs numbered in filtered file order): test = index
% test_every == 0; validation = index % test_every == test_every // 2, kept in train
unless `valid_holdout` (then validation only tracks the fit of seen pairs; the
issue's eng_fra recipe trains on all 9,767 non-test pairs).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from seq2seq_jax.data.builders.base import records_for
from seq2seq_jax.data.builders.datasets import TatoebaPairs
from seq2seq_jax.data.types import Pair, ParallelText

# Its own config.data keys: eng_fra's defaults are the tutorial's, eng_fra_full's keep
# every pair and hold out validation.
TUTORIAL_KEYS: dict[str, Any] = dict(
  max_words=10,  # both sides shorter than this many words (0: no length filter)
  reverse=True,  # fra -> eng (False: eng -> fra)
  test_every=10,  # test = the pairs whose index is a multiple of this
  valid_holdout=False,  # validation pairs (index % test_every == test_every // 2) out of train
)
FULL_KEYS: dict[str, Any] = dict(TUTORIAL_KEYS, max_words=0, test_every=100, valid_holdout=True)

ENG_PREFIXES = (
  "i am ",
  "i m ",
  "he is",
  "he s ",
  "she is",
  "she s",
  "you are",
  "you re ",
  "we are",
  "we re ",
  "they are",
  "they re ",
)


def strip_accents(s: str) -> str:
  """The tutorial's unicodeToAscii: NFD without combining marks (other characters kept)."""
  return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def normalize(s: str) -> str:
  """The tutorial's normalizeString: `Je suis à l'heure!` -> `je suis a l heure !`."""
  s = strip_accents(s.lower().strip())
  s = re.sub(r"([.!?])", r" \1", s)
  return re.sub(r"[^a-zA-Z.!?]+", r" ", s)


def tokenize(s: str) -> list[str]:
  return normalize(s).split()


def filter_pairs(
  records, *, max_words: int, prefixes: tuple[str, ...] | None, reverse: bool
) -> list[Pair]:
  """(eng, fra) records -> tokenised pairs passing the tutorial's filter, file order."""
  pairs = []
  for r in records:
    eng, fra = tokenize(r["eng"]), tokenize(r["fra"])
    if max_words and (len(eng) >= max_words or len(fra) >= max_words):
      continue
    if prefixes and not " ".join(eng).startswith(prefixes):
      continue
    pairs.append((fra, eng) if reverse else (eng, fra))
  return pairs


def split_every(pairs: list[Pair], test_every: int, valid_holdout: bool) -> ParallelText:
  test = [p for i, p in enumerate(pairs) if i % test_every == 0]
  valid = [p for i, p in enumerate(pairs) if i % test_every == test_every // 2]
  train = [
    p
    for i, p in enumerate(pairs)
    if i % test_every and not (valid_holdout and i % test_every == test_every // 2)
  ]
  return ParallelText(train, valid, test)


def load(data, *, prefix_filter: bool) -> ParallelText:
  """Reads eng-fra.txt from `data.dir` (tfds-prepared, cached) and splits it."""
  records = sorted(records_for(data, TatoebaPairs)["train"], key=lambda r: r["index"])
  pairs = filter_pairs(
    records,
    max_words=data.max_words,
    prefixes=ENG_PREFIXES if prefix_filter else None,
    reverse=data.reverse,
  )
  return split_every(pairs, data.test_every, data.valid_holdout)


def load_tutorial(data) -> ParallelText:
  """eng_fra: the tutorial's prefix-filtered pairs."""
  return load(data, prefix_filter=True)


def load_full(data) -> ParallelText:
  """eng_fra_full: every pair (no prefix filter)."""
  return load(data, prefix_filter=False)
