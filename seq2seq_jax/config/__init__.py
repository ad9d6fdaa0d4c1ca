"""Config defaults, one source per block: `train` and `decode` (defaults.py), `model`
(models.py: each model's hyper-parameter dataclass), `data` (config/data.py: the keys of
the dataset's file source, task kind and registry entry)."""

from seq2seq_jax.config.data import data_config
from seq2seq_jax.config.defaults import (
  DECODE,
  TRAIN,
  check_arg,
  decode_config,
  run_config,
  train_config,
)
from seq2seq_jax.config.models import MODELS, make_model, model_config

__all__ = [
  "DECODE",
  "MODELS",
  "TRAIN",
  "check_arg",
  "data_config",
  "decode_config",
  "make_model",
  "model_config",
  "run_config",
  "train_config",
]
