"""Moved to `python -m seq2seq_jax.bench --models=transformer`; this forwards its flags there."""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, no install
  sys.argv[1:1] = ["--models=transformer"]
  runpy.run_module("seq2seq_jax.bench", run_name="__main__")
