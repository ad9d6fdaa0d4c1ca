"""Shared fixtures: a tiny transformer config on the embedded numbers data."""

import atexit
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Many tests compile the same tiny models (in this process and in the CLI tests'
# subprocesses): a persistent XLA compilation cache shared by the session saves the repeats.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="seq2seq_jax_xla_cache_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ.update(
    JAX_COMPILATION_CACHE_DIR=_cache,
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
  )

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()


def load_config(name: str = "transformer", arg: str | None = None):
  spec = importlib.util.spec_from_file_location(f"cfg_{name}", ROOT / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


# The tiny transformer of the command-line tests, as --config.a.b=value flags.
TINY_FLAGS = {
  "model.hid": 32,
  "model.enc_layers": 1,
  "model.dec_layers": 1,
  "model.heads": 4,
  "model.ff": 64,
  "data.num_train": 300,
  "data.num_valid": 64,
  "data.num_test": 64,
  "train.num_epochs": 1,
  "train.batch_size": 32,
  "decode.max_len": 20,
  "decode.eval_beam_sizes": "(2,)",
}


def tiny_flags(**changes) -> list[str]:
  """TINY_FLAGS as command-line overrides, with `changes` (block__key=value for block.key)."""
  flags = {**TINY_FLAGS, **{k.replace("__", "."): v for k, v in changes.items()}}
  return [f"--config.{k}={v}" for k, v in flags.items()]


def tiny_transformer_config():
  c = load_config("transformer")
  c.model.update(hid=32, enc_layers=1, dec_layers=1, heads=4, ff=64, dropout=0.1, max_len=32)
  c.data.update(num_train=300, num_valid=64, num_test=64)
  c.train.update(num_epochs=2, batch_size=32, eval_batch_size=32, learning_rate=3e-3)
  c.decode.update(max_len=20, eval_beam_sizes=(2,), num_samples=0)
  return c


@pytest.fixture
def tiny_config():
  return tiny_transformer_config()


@pytest.fixture(autouse=True)
def _quiet_logs():
  logging.getLogger("seq2seq_jax").setLevel(logging.WARNING)
  yield


# tests/torch_helpers.py holds assertions shared by the parity tests: pytest's messages there.
pytest.register_assert_rewrite("tests.torch_helpers")
