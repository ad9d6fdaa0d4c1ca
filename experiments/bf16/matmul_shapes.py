"""GFLOP/s of the transformer's matmul shapes: XLA fp32, XLA bf16 and oneDNN bf16 (matmul=onednn).

  PYTHONPATH=. python experiments/bf16/matmul_shapes.py   # run alone: it is a timing
Rows are [M, K] x [K, N] with M = 64 x 24 target positions (the bench's batch); medians of 10.
"""

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


def main():
  onednn.register()
  rng = np.random.default_rng(0)
  print("| M x K x N | XLA fp32 | XLA bf16 | oneDNN bf16 | oneDNN bf16 / XLA fp32 |")
  print("|---|---|---|---|---|")
  for m, k, n in SHAPES:
    a = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((k, n)), jnp.float32)
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    gflop = 2 * m * k * n / 1e9
    f32 = gflop / seconds(jax.jit(jnp.dot), a, b)
    x16 = gflop / seconds(jax.jit(jnp.dot), a16, b16)
    d16 = gflop / seconds(jax.jit(onednn.matmul), a16, b16)
    print(f"| {m} x {k} x {n} | {f32:.0f} | {x16:.0f} | {d16:.0f} | {d16 / f32:.2f}x |")


if __name__ == "__main__":
  main()
