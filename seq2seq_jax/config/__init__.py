"""Config defaults, one source per block: `train` and `decode` (defaults.py), `model`
(models.py: each model's hyper-parameter dataclass)."""

from seq2seq_jax.config.defaults import DECODE, TRAIN, decode_config, train_config
from seq2seq_jax.config.models import MODELS, make_model, model_config

__all__ = [
  "DECODE",
  "MODELS",
  "TRAIN",
  "decode_config",
  "make_model",
  "model_config",
  "train_config",
]
