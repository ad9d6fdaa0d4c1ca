"""The split data every source returns and every task reads (a leaf: imports nothing of
the package, so sources, builders and the registry can all import it)."""

from __future__ import annotations

import dataclasses

Pair = tuple[list[str], list[str]]

# {"train" | "validation" | "test": [(input symbols, one label per symbol)]} (tagging).
TaggedSplits = dict[str, list[tuple[list[str], list[str]]]]


@dataclasses.dataclass(frozen=True)
class ParallelText:
  """Tokenised sentence pairs per split, in file order."""

  train: list[Pair]
  validation: list[Pair]
  test: list[Pair]

  def split(self, name: str) -> list[Pair]:
    return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class LabelledText:
  """Normalised texts with integer labels, in file order; `label_names` sorted.

  `dropped` holds the raw lines that are empty after normalisation (skipped).
  """

  texts: list[str]
  labels: list[int]
  label_names: list[str]
  dropped: list[str]
