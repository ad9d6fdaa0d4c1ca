"""Surnames by language (the char-RNN classification tutorial's names/ folder), folded to
its 57 name letters."""

from __future__ import annotations

import string
import unicodedata
from typing import Any

from seq2seq_jax.data.builders.base import records_for
from seq2seq_jax.data.builders.datasets import NamesFolder
from seq2seq_jax.data.types import LabelledText

# The char-RNN classification tutorial's alphabet: 52 ascii letters and " .,;'".
NAME_LETTERS = string.ascii_letters + " .,;'"

# Its own config.data keys (tasks/classification.py makes the split with them).
KEYS: dict[str, Any] = dict(
  test_fraction=0.15,  # stratified, per language
  valid_fraction=0.1,  # of the names left after the test split
  split_seed=0,  # the split's shuffle seed
)


def to_name_letters(text: str) -> str:
  """NFD, drop combining marks and anything outside NAME_LETTERS: 'Ślusàrski' -> 'Slusarski'."""
  return "".join(
    c
    for c in unicodedata.normalize("NFD", text)
    if unicodedata.category(c) != "Mn" and c in NAME_LETTERS
  )


def load(data) -> LabelledText:
  """The names under `data.dir` with label ids (sorted label names), in file order."""
  records = records_for(data, NamesFolder)["train"]
  label_names = sorted({r["label"] for r in records})
  label_id = {name: i for i, name in enumerate(label_names)}
  texts, labels, dropped = [], [], []
  for r in records:
    text = to_name_letters(r["name"])
    if text:
      texts.append(text)
      labels.append(label_id[r["label"]])
    else:
      dropped.append(r["name"])
  return LabelledText(texts, labels, label_names, dropped)
