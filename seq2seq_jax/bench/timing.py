"""Timing helpers of the benchmark and the profiler: medians, interleaved A/B timing of warm
calls, this machine's matmul FLOP/s (JAX and PyTorch, fp32 and bf16) and a compiled
function's XLA FLOP count."""

from __future__ import annotations

import math
import statistics
import time

import jax
import jax.numpy as jnp


def median(xs) -> float:
  return float(statistics.median(xs))


def time_calls(fn, n: int) -> float:
  """Mean seconds of n calls of fn."""
  t0 = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t0) / n


def _inner(fn, target_s: float) -> int:
  """Calls per measurement so that one measurement takes about target_s (fn already warm)."""
  dt = time_calls(fn, 1)
  return max(1, min(1000, math.ceil(target_s / max(dt, 1e-6))))


def interleaved(fns: dict, repeats: int, target_s: float) -> dict[str, list[float]]:
  """Seconds per call of each fn (warm), measured A B A B ... `repeats` times each."""
  inner = {k: _inner(f, target_s) for k, f in fns.items()}
  out = {k: [] for k in fns}
  for _ in range(repeats):
    for k, f in fns.items():
      out[k].append(time_calls(f, inner[k]))
  return out


def matmul_flops(repeats: int, n: int = 2048, dtype: str = "float32", kernel=jnp.matmul) -> dict:
  """FLOP/s of a jitted n x n matmul of `dtype` on this machine (median of repeats);
  `kernel`: another (a, b) -> a @ b, e.g. kernels.onednn.matmul."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32).astype(dtype)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32).astype(dtype)
  mm = jax.jit(kernel)
  mm(a, b).block_until_ready()
  times = [time_calls(lambda: mm(a, b).block_until_ready(), 1) for _ in range(max(repeats, 3))]
  return {"n": n, "median_s": median(times), "flop_per_s": 2.0 * n**3 / median(times)}


def torch_matmul_flops(repeats: int, n: int = 2048, dtype: str = "float32") -> dict:
  """The same for PyTorch's matmul (oneDNN / MKL on a CPU), for the ratio between them."""
  import torch

  g = torch.Generator().manual_seed(0)
  a, b = (torch.randn(n, n, generator=g).to(getattr(torch, dtype)) for _ in range(2))
  torch.matmul(a, b)
  times = [time_calls(lambda: torch.matmul(a, b), 1) for _ in range(max(repeats, 3))]
  return {"n": n, "median_s": median(times), "flop_per_s": 2.0 * n**3 / median(times)}


def matmul_table(repeats: int, jax_fp32: dict, dtypes=("float32", "bfloat16")) -> dict:
  """{side: {dtype: GFLOP/s of the 2048^2 matmul}} for jax and torch; JAX's fp32 figure is
  `jax_fp32` (a `matmul_flops` result already measured), not timed again."""
  jax_runs = {d: jax_fp32 if d == "float32" else matmul_flops(repeats, dtype=d) for d in dtypes}
  table = {
    "jax": {d: r["flop_per_s"] / 1e9 for d, r in jax_runs.items()},
    "torch": {d: torch_matmul_flops(repeats, dtype=d)["flop_per_s"] / 1e9 for d in dtypes},
  }
  if onednn_problem() is None:  # jax.ffi into oneDNN (train.matmul=onednn)
    from seq2seq_jax.kernels import onednn

    run = matmul_flops(repeats, dtype="bfloat16", kernel=onednn.matmul)
    table["jax_onednn"] = {"bfloat16": run["flop_per_s"] / 1e9, "version": onednn.version()}
  return table


def onednn_problem() -> str | None:
  """kernels.onednn.problem(): None where train.matmul=onednn works, else why not."""
  from seq2seq_jax.kernels import onednn

  return onednn.problem()


def cost_flops(compiled) -> float | None:
  """The FLOPs XLA's cost analysis counts for a compiled function (None if it has none)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and "flops" in cost else None
