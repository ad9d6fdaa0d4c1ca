"""The PyTorch seq2seq tutorial's eng-fra pairs (Tatoeba `eng-fra.txt`), normalised its way.

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

from seq2seq_jax.data.registry import Pair, ParallelText, default_cache_dir

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


def unicode_to_ascii(s: str) -> str:
  return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def normalize(s: str) -> str:
  """The tutorial's normalizeString: `Je suis à l'heure!` -> `je suis a l heure !`."""
  s = unicode_to_ascii(s.lower().strip())
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
  from seq2seq_jax.data.tfds_builders import load_records

  records = load_records(
    "tatoeba_pairs", data.dir or None, data.cache_dir or default_cache_dir(), download=data.download
  )["train"]
  records = sorted(records, key=lambda r: r["index"])
  pairs = filter_pairs(
    records,
    max_words=data.max_words,
    prefixes=ENG_PREFIXES if prefix_filter else None,
    reverse=data.reverse,
  )
  return split_every(pairs, data.test_every, data.valid_holdout)
