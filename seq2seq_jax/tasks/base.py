"""What every task shares: the `Task` it hands the training loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.train.steps import LossFn


@dataclasses.dataclass
class Task:
  """What a task plugs into the loop.

  summarize: metric sums -> named values (e.g. loss, ppl, accuracy); must give "loss".
  report: (params, split) -> final metrics of that split (BLEU, samples, plots...).
  on_epoch_end: optional (params, epoch) -> None, e.g. print a few predictions.
  """

  model: Any
  init_args: tuple
  train_data: BucketedDataset
  eval_data: dict[str, BucketedDataset]
  loss_fn: LossFn
  summarize: Callable[[dict[str, float]], dict[str, float]]
  report: Callable[[Any, str], dict]
  on_epoch_end: Callable[[Any, int], None] | None = None
