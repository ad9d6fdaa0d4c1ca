"""Training: `steps` (jitted train/eval steps), `sharding` (devices and hosts), `checkpoint`
(orbax latest/best/epochs/averaged), `loop` (the one epoch loop), `records` (metrics.jsonl,
TensorBoard), `average` (checkpoint averaging). The names below are the public API."""

from seq2seq_jax.train.average import average_epochs, average_run, mean_params
from seq2seq_jax.train.checkpoint import Checkpoints, Meta
from seq2seq_jax.train.loop import (
  append_metrics,
  decode_checkpoint,
  evaluate,
  evaluate_split,
  loss_metrics,
  param_summary,
  restore_params,
  train_and_evaluate,
)
from seq2seq_jax.train.sharding import batch_put, data_sharding, fetch, host_rows, is_main_process
from seq2seq_jax.train.steps import (
  TrainState,
  create_state,
  learning_rate,
  make_optimizer,
  make_schedule,
  make_steps,
)

__all__ = [
  "Checkpoints",
  "Meta",
  "TrainState",
  "append_metrics",
  "average_epochs",
  "average_run",
  "batch_put",
  "create_state",
  "data_sharding",
  "decode_checkpoint",
  "evaluate",
  "evaluate_split",
  "fetch",
  "host_rows",
  "is_main_process",
  "loss_metrics",
  "learning_rate",
  "make_optimizer",
  "make_schedule",
  "make_steps",
  "mean_params",
  "param_summary",
  "restore_params",
  "train_and_evaluate",
]
