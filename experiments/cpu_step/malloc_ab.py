"""The glibc malloc tunables (seq2seq_jax/malloc.py) against glibc's defaults: the bench's
transformer train step, ours and the PyTorch reference's, each setting in fresh processes,
alternated (default, tuned, default, ...): ms/step, kernel (sys) ms/step, minor page faults.

  PYTHONPATH=. python experiments/cpu_step/malloc_ab.py [--pairs=4] [--steps=10]   # run alone

A process's malloc settings are fixed at its start, so the two settings cannot share one
process; alternating whole processes spreads the machine's drift over both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def child(steps: int) -> None:
  from seq2seq_jax import malloc

  malloc.restart_tuned()  # a no-op under SEQ2SEQ_JAX_MALLOC=default
  import jax
  import torch

  from seq2seq_jax import train
  from seq2seq_jax.bench.families import batches, create_state, family

  torch.set_num_threads(2)
  fam = family("transformer", False)
  b = batches("transformer", fam, 64, 24, 24)
  state = [create_state(fam["model"], b["init_args"], **fam["train_kw"])]
  step = train.make_steps(fam["loss"])[0]
  batch = jax.device_put(b["jax"])
  torch_step = fam["build_torch"]()[0]

  def ours():
    state[0], sums, _ = step(state[0], batch)
    jax.block_until_ready(sums)

  out = {"malloc": malloc.describe()}
  for name, fn in (("jax", ours), ("torch", lambda: torch_step(b["torch"]))):
    for _ in range(3):
      fn()
    r0, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(steps):
      t = time.perf_counter()
      fn()
      times.append(time.perf_counter() - t)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out[name] = {
      "ms": 1e3 * statistics.median(times),
      "sys_ms": 1e3 * (r1.ru_stime - r0.ru_stime) / steps,
      "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
    }
  print(json.dumps(out))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--pairs", type=int, default=4)
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    return child(args.steps)
  runs = {"default": [], "tuned": []}
  for _ in range(args.pairs):
    for setting in runs:
      env = {**os.environ, "SEQ2SEQ_JAX_MALLOC": setting}
      env.pop("GLIBC_TUNABLES", None)
      cmd = [sys.executable, __file__, "--child", f"--steps={args.steps}"]
      line = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
      runs[setting].append(json.loads(line.strip().splitlines()[-1]))
      print(setting, runs[setting][-1], file=sys.stderr, flush=True)
  print("| setting | side | ms/step (median of runs) | each run | sys ms/step | faults/step |")
  print("|---|---|---|---|---|---|")
  for setting, rs in runs.items():
    for side in ("jax", "torch"):
      ms = [r[side]["ms"] for r in rs]
      sys_ms = statistics.median(r[side]["sys_ms"] for r in rs)
      faults = statistics.median(r[side]["faults"] for r in rs)
      each = ", ".join(f"{m:.0f}" for m in ms)
      print(
        f"| {setting} | {side} | {statistics.median(ms):.1f} | {each} | {sys_ms:.1f} | "
        f"{faults:,.0f} |"
      )


if __name__ == "__main__":
  main()
