"""Plots a researcher would rather look at than read: loss curves, attention, confusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def loss_curves(
  curves: Mapping[str, Sequence[tuple[float, float]]],
  path: str | Path,
  *,
  xlabel: str = "epoch",
  ylabel: str = "loss",
  title: str = "",
) -> None:
  """One line per named curve of (x, y) points."""
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, points in curves.items():
    if points:
      xs, ys = zip(*points)
      ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=name)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _heatmap(
  matrix: np.ndarray,
  xlabels: Sequence[str],
  ylabels: Sequence[str],
  path,
  *,
  xlabel: str,
  ylabel: str,
  title: str,
  figsize,
  title_pad: int,
  **imshow,
) -> None:
  """matshow with a colour bar and a label on every row and column."""
  fig, ax = plt.subplots(figsize=figsize)
  im = ax.matshow(matrix, **imshow)
  fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  ax.set_xticks(range(len(xlabels)), xlabels, rotation=90)
  ax.set_yticks(range(len(ylabels)), ylabels)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title, pad=title_pad)
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def attention_map(
  weights: np.ndarray,
  src_tokens: Sequence[str],
  tgt_tokens: Sequence[str],
  path: str | Path,
  *,
  title: str = "",
) -> None:
  """Heat map of attention weights [len(tgt), len(src)] with token labels on both axes."""
  _heatmap(
    weights,
    src_tokens,
    tgt_tokens,
    path,
    xlabel="source",
    ylabel="output",
    title=title,
    figsize=(1 + 0.45 * len(src_tokens), 1 + 0.45 * len(tgt_tokens)),
    title_pad=40,
    cmap="bone",
    vmin=0.0,
  )


def confusion(
  matrix: np.ndarray, labels: Sequence[str], path: str | Path, *, title: str = ""
) -> None:
  """Row-normalised confusion matrix with label names on both axes."""
  norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  _heatmap(
    norm,
    labels,
    labels,
    path,
    xlabel="predicted",
    ylabel="true",
    title=title,
    figsize=(8, 7),
    title_pad=60,
    cmap="viridis",
    vmin=0.0,
    vmax=1.0,
  )
