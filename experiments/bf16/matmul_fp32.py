"""GFLOP/s of the transformer's matmul shapes in fp32: XLA's dot, timed before and after,
against oneDNN's fp32 matmul (the F32 target of train.matmul=onednn's FFI handler).

  PYTHONPATH=. python experiments/bf16/matmul_fp32.py   # run alone: it is a timing
Shapes and timing as in matmul_shapes.py (M = 64 x 24 target positions; medians of 10).
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from matmul_shapes import SHAPES, seconds  # noqa: E402

from seq2seq_jax.kernels import onednn  # noqa: E402


def main():
  rng = np.random.default_rng(0)
  print("| M x K x N | XLA fp32 | oneDNN fp32 | oneDNN / best XLA |")
  print("|---|---|---|---|")
  for m, k, n in SHAPES:
    a = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((k, n)), jnp.float32)
    gflop = 2 * m * k * n / 1e9
    before = gflop / seconds(jax.jit(jnp.dot), a, b)
    ours = gflop / seconds(jax.jit(onednn.matmul), a, b)
    after = gflop / seconds(jax.jit(jnp.dot), a, b)
    best = max(before, after)
    print(f"| {m} x {k} x {n} | {before:.0f}, {after:.0f} | {ours:.0f} | {ours / best:.2f}x |")


if __name__ == "__main__":
  main()
