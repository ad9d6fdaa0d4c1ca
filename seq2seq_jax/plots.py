"""Plots a researcher would rather look at than read: loss curves, attention, confusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def loss_curves(curves: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, *,
                xlabel: str = "epoch", ylabel: str = "loss", title: str = "") -> None:
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


def attention_map(weights: np.ndarray, src_tokens: Sequence[str], tgt_tokens: Sequence[str],
                  path: str | Path, *, title: str = "") -> None:
  """Heat map of attention weights [len(tgt), len(src)] with token labels on both axes."""
  fig, ax = plt.subplots(figsize=(1 + 0.45 * len(src_tokens), 1 + 0.45 * len(tgt_tokens)))
  im = ax.matshow(weights, cmap="bone", vmin=0.0)
  fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=90)
  ax.set_yticks(range(len(tgt_tokens)), tgt_tokens)
  ax.set_xlabel("source")
  ax.set_ylabel("output")
  if title:
    ax.set_title(title, pad=40)
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def confusion(matrix: np.ndarray, labels: Sequence[str], path: str | Path, *,
              title: str = "") -> None:
  """Row-normalised confusion matrix with label names on both axes."""
  rows = matrix.sum(axis=1, keepdims=True)
  norm = matrix / np.maximum(rows, 1)
  fig, ax = plt.subplots(figsize=(8, 7))
  im = ax.matshow(norm, cmap="viridis", vmin=0.0, vmax=1.0)
  fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  ax.set_xticks(range(len(labels)), labels, rotation=90)
  ax.set_yticks(range(len(labels)), labels)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  if title:
    ax.set_title(title, pad=60)
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)
