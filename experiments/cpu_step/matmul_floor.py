"""The fp32 train step's matmul floor: every dot of the compiled step (fused or not), timed
alone with the same shapes and dimension numbers, summed; against the whole step.

  PYTHONPATH=. python experiments/cpu_step/matmul_floor.py   # run alone

The floor is what the step would take if everything but its matmuls were free, on this
machine, at the rate XLA:CPU reaches on each shape alone: the bound on how far the step can
go without faster matmul kernels. Prints the step, the floor, their difference, and the
heaviest dot shapes. Runs with the malloc tunables, as the entry points do (malloc.py).
"""

from __future__ import annotations

import collections
import re

import jax
import jax.numpy as jnp

from seq2seq_jax import train
from seq2seq_jax.bench.families import batches, create_state, family
from seq2seq_jax.bench.timing import median, time_calls

SHAPE = r"f32\[([\d,]*)\]"


def dots_of(hlo: str) -> collections.Counter:
  """(lhs shape, rhs shape, dimension numbers) -> how many times the step runs that dot."""
  shapes = {}
  for m in re.finditer(rf"%?([\w.\-]+)(?:: | = ){SHAPE}", hlo):
    shapes[m.group(1)] = tuple(int(d) for d in m.group(2).split(",") if d)
  found = collections.Counter()
  pattern = (
    r"dot\(%?([\w.\-]+), %?([\w.\-]+)\), (?:lhs_batch_dims=\{([\d,]*)\}, )?"
    r"lhs_contracting_dims=\{([\d,]*)\}, (?:rhs_batch_dims=\{([\d,]*)\}, )?"
    r"rhs_contracting_dims=\{([\d,]*)\}"
  )
  ints = lambda s: tuple(int(d) for d in (s or "").split(",") if d)
  for m in re.finditer(pattern, hlo):
    lhs, rhs = shapes[m.group(1)], shapes[m.group(2)]
    dims = ((ints(m.group(4)), ints(m.group(6))), (ints(m.group(3)), ints(m.group(5))))
    found[(lhs, rhs, dims)] += 1
  return found


def seconds(fn, n: int = 25) -> float:
  """Median seconds of n warm calls (the bench's timing helpers)."""
  for _ in range(3):
    fn()
  return median(time_calls(fn, 1) for _ in range(n))


def main():
  fam = family("transformer", False)
  b = batches("transformer", fam, 64, 24, 24)
  batch = jax.device_put(b["jax"])
  holder = [create_state(fam["model"], b["init_args"], **fam["train_kw"])]
  compiled = train.make_steps(fam["loss"])[0].lower(holder[0], batch).compile()

  def step():
    holder[0], sums, _ = compiled(holder[0], batch)
    jax.block_until_ready(sums)

  dots = dots_of(compiled.as_text())
  rows, floor, flop_total = [], 0.0, 0.0
  for (lhs, rhs, dims), count in dots.items():
    a, c = jnp.ones(lhs, jnp.float32), jnp.ones(rhs, jnp.float32)
    f = jax.jit(lambda a, c, dims=dims: jax.lax.dot_general(a, c, dims))
    out = jax.eval_shape(f, a, c).shape
    contracted = 1
    for d in dims[0][0]:
      contracted *= lhs[d]
    flop = 2.0 * contracted * jnp.prod(jnp.asarray(out)).item()
    t = seconds(lambda f=f, a=a, c=c: f(a, c).block_until_ready())
    rows.append((t * count, count, lhs, rhs, dims, flop / t / 1e9))
    floor += t * count
    flop_total += flop * count
  t_step = median(seconds(step, 5) for _ in range(3))
  print(f"step {1e3 * t_step:.1f} ms; its {sum(dots.values())} dots ({flop_total / 1e9:.2f} GFLOP)")
  print(f"timed alone: {1e3 * floor:.1f} ms (the floor), {flop_total / floor / 1e9:.1f} GFLOP/s")
  print(f"everything else: {1e3 * (t_step - floor):.1f} ms ({100 * (1 - floor / t_step):.0f} %)")
  print("\n| ms in the step | count | lhs | rhs | contracting, batch dims | GFLOP/s alone |")
  print("|---|---|---|---|---|---|")
  for total, count, lhs, rhs, dims, rate in sorted(rows, reverse=True)[:12]:
    print(f"| {1e3 * total:.1f} | {count} | {lhs} | {rhs} | {dims} | {rate:.0f} |")


if __name__ == "__main__":
  from seq2seq_jax import malloc

  malloc.restart_tuned()  # the step as `python -m seq2seq_jax.main` runs it
  main()
