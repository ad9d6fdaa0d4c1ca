"""Config defaults, one source per block: `train`, `decode` (defaults.py)."""

from seq2seq_jax.config.defaults import DECODE, TRAIN, decode_config, train_config

__all__ = ["DECODE", "TRAIN", "decode_config", "train_config"]
