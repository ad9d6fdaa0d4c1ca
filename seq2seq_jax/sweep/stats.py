"""Statistics of a sweep: spread over seeds and paired bootstrap tests on the test set.

`seed_interval`: mean, std and a 95 % percentile-bootstrap interval of a metric's mean
over seeds (with 3 seeds the interval is coarse: it can be no wider than the seeds' own
range; it says how far the mean moves when seeds are resampled).

`paired_bootstrap`: the paired bootstrap resampling test of Koehn (2004), as sacrebleu's
`--paired-bs` runs it, with each system's score the mean over its seeds: resample the test
set's sentences (the same indices for both systems and every seed), score every seed's
hypotheses on the resample from their per-sentence sufficient statistics, and compare the
seed-mean scores. p = (c + 1) / (B + 1), c the resamples whose centred |difference| reaches
the observed one (sacrebleu's `_compute_p_value` counts only those that exceed it, which gives
two identical systems p = 1 / (B + 1); here they get p = 1). Corpus metrics come from sacrebleu (its
per-sentence statistics and score-from-statistics functions); the classifier's are top-1
and macro accuracy from per-example correctness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

RESAMPLES = 1000
SEED = 12345  # sacrebleu's default resampling seed


@dataclasses.dataclass(frozen=True)
class Interval:
  mean: float
  std: float  # over seeds, ddof=1 (0 for one seed)
  low: float  # 95 % bootstrap interval of the mean over seeds
  high: float
  n: int

  def text(self, digits: int = 2) -> str:
    """ "mean ± std [low, high]"; one seed has no spread to show: "mean (1 seed)"."""
    f = f"{{:.{digits}f}}"
    if self.n == 1:
      return f"{f.format(self.mean)} (1 seed)"
    return (
      f"{f.format(self.mean)} ± {f.format(self.std)} [{f.format(self.low)}, {f.format(self.high)}]"
    )


def seed_interval(values: Sequence[float], resamples: int = 10_000) -> Interval:
  v = np.asarray(values, np.float64)
  if v.size == 0:
    raise ValueError("no values")
  std = float(v.std(ddof=1)) if v.size > 1 else 0.0
  rng = np.random.default_rng(SEED)
  means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
  low, high = np.percentile(means, [2.5, 97.5])
  return Interval(float(v.mean()), std, float(low), float(high), int(v.size))


@dataclasses.dataclass(frozen=True)
class PairedResult:
  delta: float  # system mean - baseline mean, on the whole test set
  low: float  # 95 % bootstrap interval of the delta
  high: float
  p: float


def _paired(
  score: Callable[[np.ndarray], np.ndarray], n_items: int, resamples: int, seed: int
) -> PairedResult:
  """score(indices [B, N]) -> [2, B] seed-mean scores of (system, baseline) per resample."""
  rng = np.random.default_rng(seed)
  full = score(np.arange(n_items)[None])[:, 0]
  observed = float(full[0] - full[1])
  idx = rng.integers(0, n_items, size=(resamples, n_items))
  sys_s, base_s = score(idx)
  diffs = sys_s - base_s
  centred = np.abs(diffs) - np.abs(diffs).mean()
  p = (int(np.sum(centred >= abs(observed))) + 1) / (resamples + 1)
  low, high = np.percentile(diffs, [2.5, 97.5])
  return PairedResult(observed, float(low), float(high), p)


def corpus_stats(
  metric, hypotheses: Sequence[Sequence[str]], references: Sequence[str]
) -> np.ndarray:
  """[seeds, N, K] per-sentence sufficient statistics of a sacrebleu metric (BLEU, CHRF)
  for each seed's hypotheses (lists aligned with references)."""
  return np.stack(
    [
      np.asarray(metric._extract_corpus_statistics(list(h), [list(references)]), np.float64)
      for h in hypotheses
    ]
  )


def paired_corpus_test(
  metric,
  system: np.ndarray,
  baseline: np.ndarray,
  *,
  resamples: int = RESAMPLES,
  seed: int = SEED,
) -> PairedResult:
  """system / baseline: `corpus_stats` of each side's seeds (the baseline's computed once
  for all the cells it is paired with)."""
  stats = (system, baseline)

  def score(idx: np.ndarray) -> np.ndarray:
    out = np.zeros((2, len(idx)))
    for side, s in enumerate(stats):  # s [seeds, N, K]
      for b, rows in enumerate(idx):
        sums = s[:, rows].sum(axis=1)  # [seeds, K]
        out[side, b] = np.mean([metric._compute_score_from_stats(list(x)).score for x in sums])
    return out

  return _paired(score, system.shape[1], resamples, seed)


def paired_accuracy_test(
  system: Sequence[np.ndarray],
  baseline: Sequence[np.ndarray],
  labels: np.ndarray,
  *,
  macro: bool,
  resamples: int = RESAMPLES,
  seed: int = SEED,
) -> PairedResult:
  """system / baseline: each seed's per-example correctness [N] (0/1); top-1 accuracy (%),
  or macro accuracy (the mean over labels of each label's accuracy) when `macro`."""
  correct = [np.stack(side).astype(np.float64) for side in (system, baseline)]  # [seeds, N]
  labels = np.asarray(labels)
  classes = np.unique(labels)

  def score(idx: np.ndarray) -> np.ndarray:
    out = np.zeros((2, len(idx)))
    for side, c in enumerate(correct):
      picked = c[:, idx]  # [seeds, B, N]
      if not macro:
        out[side] = 100.0 * picked.mean(axis=(0, 2))
        continue
      lab = labels[idx]  # [B, N]
      per_class = []
      for k in classes:
        mask = lab == k
        n = mask.sum(axis=1)
        acc = (picked * mask).sum(axis=2) / np.maximum(n, 1)  # [seeds, B]
        per_class.append(np.where(n > 0, acc, np.nan))
      out[side] = 100.0 * np.nanmean(np.stack(per_class), axis=0).mean(axis=0)
    return out

  return _paired(score, len(labels), resamples, seed)
