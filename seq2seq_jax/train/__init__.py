"""Training: `steps` (jitted train/eval steps), `sharding` (devices and hosts), `checkpoint`
(orbax latest/best), `loop` (the one epoch loop). The names below are the public API."""

from seq2seq_jax.train.checkpoint import Checkpoints, Meta
from seq2seq_jax.train.loop import (
  append_metrics,
  evaluate,
  evaluate_split,
  loss_metrics,
  param_summary,
  restore_params,
  train_and_evaluate,
)
from seq2seq_jax.train.sharding import batch_put, data_sharding, fetch, host_rows, is_main_process
from seq2seq_jax.train.steps import TrainState, create_state, make_optimizer, make_steps

__all__ = [
  "Checkpoints",
  "Meta",
  "TrainState",
  "append_metrics",
  "batch_put",
  "create_state",
  "data_sharding",
  "evaluate",
  "evaluate_split",
  "fetch",
  "host_rows",
  "is_main_process",
  "loss_metrics",
  "make_optimizer",
  "make_steps",
  "param_summary",
  "restore_params",
  "train_and_evaluate",
]
