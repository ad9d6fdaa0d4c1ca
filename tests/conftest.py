"""Shared fixtures and helpers: a tiny transformer config on the embedded numbers data, the
command line as a subprocess (`cli`, `assert_user_error`), a generated WMT-layout sample."""

import atexit
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Many tests compile the same tiny models (in this process and in the CLI tests'
# subprocesses): a persistent XLA compilation cache shared by the session saves the repeats.
# Each pytest-xdist worker (`-n auto`, pyproject.toml) runs this and gets its own caches.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="seq2seq_jax_xla_cache_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ.update(
    JAX_COMPILATION_CACHE_DIR=_cache,
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
  )
# The project's own cache (prepared datasets, the oneDNN kernel) also per session, not the
# user's ~/.cache/seq2seq_jax: the tests neither read what an earlier run left nor race a
# second worker preparing the same dataset.
if "SEQ2SEQ_JAX_CACHE" not in os.environ:
  _own = tempfile.mkdtemp(prefix="seq2seq_jax_cache_")
  atexit.register(shutil.rmtree, _own, ignore_errors=True)
  os.environ["SEQ2SEQ_JAX_CACHE"] = _own

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


def cli(*args, stdin=None, cwd=ROOT):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  return subprocess.run(
    [sys.executable, "-m", "seq2seq_jax.main", *args],
    input=stdin,
    capture_output=True,
    text=True,
    cwd=cwd,
    env=env,
    timeout=600,
  )


def assert_user_error(proc, *fragments):
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(error_lines) == 1, proc.stderr[-2000:]
  for f in fragments:
    assert f in error_lines[0], error_lines[0]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
  """300 training pairs of at most 20 words, 40 validation and test pairs."""
  from seq2seq_jax.data.sample import write_wmt_sample

  return write_wmt_sample(tmp_path_factory.mktemp("wmt"), 300, valid=40, test=40, max_len=20)


def wmt_config(sample, tmp_path, **data):
  c = load_config("transformer", "wmt14_base")
  c.data.update(dir=str(sample), cache_dir=str(tmp_path / "cache"), workers=0)
  c.data.update(bucket_edges=(12, 24), tokenizer="", packing=False)  # words, buckets
  c.data.update(**data)
  c.model.update(hid=32, enc_layers=1, dec_layers=1, heads=4, ff=64, max_len=32)
  c.train.update(
    num_epochs=1, batch_size=32, eval_batch_size=64, compute_dtype="float32", warmup_steps=5
  )
  c.train.max_tokens = 384 if c.data.packing else 0  # packed: 8 rows of 48
  c.train.update(keep_checkpoints=0, checkpoint_every_steps=0, log_every_steps=2)
  c.decode.update(max_len=24, eval_beam_sizes=(2,), num_samples=0)
  return c
