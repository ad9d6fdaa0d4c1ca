"""Metrics: corpus BLEU, chrF and TER (sacrebleu) with their signatures, exact match,
perplexity, accuracy, confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sacrebleu.metrics import BLEU, CHRF, TER

# name -> a fresh sacrebleu metric given BLEU's tokenisation: 'none' over the data's own
# tokens (the text is already tokenised; force: no warning that it looks so), '13a' (the
# standard) over detokenised text; chrF and TER with sacrebleu's defaults.
CORPUS_METRICS = {
  "bleu": lambda tokenize: BLEU(tokenize=tokenize, force=tokenize == "none"),
  "chrf": lambda tokenize: CHRF(),
  "ter": lambda tokenize: TER(),
}


def corpus_scores(
  hypotheses: Sequence[Sequence[str]],
  references: Sequence[Sequence[str]],
  tokenize: str = "none",
) -> tuple[dict[str, float], dict[str, str]]:
  """BLEU, chrF and TER of token sequences (joined by spaces; one reference each), BLEU
  tokenised by sacrebleu's `tokenize` (none: the tokens as they are; 13a: plain text,
  sentencepiece runs), and each metric's sacrebleu signature: ({"bleu": 31.6, "chrf":
  ..., "ter": ...}, {"bleu": "nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|version:2.6.0",
  ...})."""
  hyps, refs = _joined(hypotheses), [_joined(references)]
  scores, signatures = {}, {}
  for name, make in CORPUS_METRICS.items():
    metric = make(tokenize)
    scores[name] = metric.corpus_score(hyps, refs).score
    signatures[name] = str(metric.get_signature())
  return scores, signatures


def bleu(
  hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], tokenize: str = "none"
) -> float:
  """Corpus BLEU of token sequences joined by spaces, tokenised by sacrebleu's `tokenize`
  (none: the text is already tokenised)."""
  metric = CORPUS_METRICS["bleu"](tokenize)
  return metric.corpus_score(_joined(hypotheses), [_joined(references)]).score


def _joined(sentences: Sequence[Sequence[str]]) -> list[str]:
  return [" ".join(s) for s in sentences]


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
