"""GFLOP/s of the transformer's matmul shapes: XLA fp32, XLA bf16 and oneDNN bf16 (matmul=onednn).

  PYTHONPATH=. python experiments/bf16/matmul_shapes.py          # run alone: it is a timing
  PYTHONPATH=. python experiments/bf16/matmul_shapes.py --fp32   # XLA fp32 (timed before and
                                                                 # after) vs oneDNN's fp32
Rows are [M, K] x [K, N] with M = 64 x 24 target positions (the bench's batch); medians of 10.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax.kernels import onednn

SHAPES = [
  (2048, 2048, 2048),
  (1536, 256, 7704),
  (1536, 256, 512),
  (1536, 512, 256),
  (1536, 7704, 256),
]


def seconds(f, *args, n=10):
  f(*args).block_until_ready()
  times = []
  for _ in range(n):
    t0 = time.perf_counter()
    f(*args).block_until_ready()
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def bf16_row(a, b, gflop: float) -> str:
  a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
  f32 = gflop / seconds(jax.jit(jnp.dot), a, b)
  x16 = gflop / seconds(jax.jit(jnp.dot), a16, b16)
  d16 = gflop / seconds(jax.jit(onednn.matmul), a16, b16)
  return f"{f32:.0f} | {x16:.0f} | {d16:.0f} | {d16 / f32:.2f}x"


def fp32_row(a, b, gflop: float) -> str:
  before = gflop / seconds(jax.jit(jnp.dot), a, b)
  ours = gflop / seconds(jax.jit(onednn.matmul), a, b)
  after = gflop / seconds(jax.jit(jnp.dot), a, b)
  return f"{before:.0f}, {after:.0f} | {ours:.0f} | {ours / max(before, after):.2f}x"


def main(fp32: bool):
  rng = np.random.default_rng(0)
  if fp32:
    print("| M x K x N | XLA fp32 | oneDNN fp32 | oneDNN / best XLA |\n|---|---|---|---|")
  else:
    print("| M x K x N | XLA fp32 | XLA bf16 | oneDNN bf16 | oneDNN bf16 / XLA fp32 |")
    print("|---|---|---|---|---|")
  for m, k, n in SHAPES:
    a = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((k, n)), jnp.float32)
    gflop = 2 * m * k * n / 1e9
    print(f"| {m} x {k} x {n} | " + (fp32_row if fp32 else bf16_row)(a, b, gflop) + " |")


if __name__ == "__main__":
  main(fp32="--fp32" in sys.argv[1:])
