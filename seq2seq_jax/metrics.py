"""Metrics: corpus BLEU (sacrebleu), exact match, perplexity, accuracy, confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sacrebleu


def bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
  """Corpus BLEU over whitespace tokens (tokenize='none': the text is already tokenised)."""
  hyps = [" ".join(h) for h in hypotheses]
  refs = [" ".join(r) for r in references]
  return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def exact_match(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
  """Percentage of hypotheses equal to their reference, token for token."""
  return 100.0 * float(np.mean([list(h) == list(r) for h, r in zip(hypotheses, references)]))


def perplexity(loss: float) -> float:
  return math.exp(min(loss, 50.0))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
  """[C, C] counts; rows are true labels, columns predictions."""
  m = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(m, (labels, predictions), 1)
  return m
