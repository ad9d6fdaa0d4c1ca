"""Where the Multi30k transformer's train step spends its time (the bench's batch: 64 x 24/24).

Prints, medians of interleaved repeats on one machine:
  the whole step with each dropout mask generator (model.dropout_rng: hash, threefry) and
  without dropout; its parts: forward, forward+backward, the clip+Adam update, the output
  head (256 -> 7,704 logits and the fused cross entropy) alone; the step's XLA FLOPs and
  FLOP/s. --malloc=tuned: with the allocator settings `python -m seq2seq_jax.main` has
  (seq2seq_jax/malloc.py); glibc's defaults otherwise, as the bench.
With --trace=DIR it also records a jax.profiler trace of 5 steps and prints the kernel time
per model part (forward / backward), matching the trace's XLA ops to their HLO metadata.

  python -m seq2seq_jax.bench.profile [--trace=/tmp/tprof] [--malloc=tuned]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import json
import os
import re
import sys


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--trace", default="", help="directory for a profiler trace and HLO dump")
  p.add_argument("--repeats", type=int, default=7)
  p.add_argument("--depth", type=int, default=5, help="module-path depth of the trace table")
  p.add_argument(
    "--malloc",
    choices=("default", "tuned"),
    default="default",
    help="glibc's malloc settings, or the tunables of `python -m seq2seq_jax.main` (malloc.py)",
  )
  return p.parse_args()


if __name__ == "__main__":
  from seq2seq_jax import malloc

  malloc.restart_if_requested(sys.argv[1:])  # --malloc=tuned: the step as the CLI runs it

ARGS = parse_args()
if ARGS.trace:  # before jax is imported: the HLO dump names every op of the trace
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={ARGS.trace}/hlo --xla_dump_hlo_as_text"
  )

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from seq2seq_jax import train  # noqa: E402
from seq2seq_jax.bench.families import seq2seq_batch  # noqa: E402
from seq2seq_jax.bench.timing import cost_flops, interleaved, matmul_flops, median  # noqa: E402
from seq2seq_jax.config import train_config  # noqa: E402
from seq2seq_jax.kernels import layouts  # noqa: E402
from seq2seq_jax.models.transformer import Transformer, TransformerConfig  # noqa: E402
from seq2seq_jax.tasks import translation  # noqa: E402
from seq2seq_jax.tasks.base import softmax_cross_entropy  # noqa: E402

B, S, T = 64, 24, 24
CFG = TransformerConfig(src_vocab_size=9597, tgt_vocab_size=7704)


def main():
  batch = jax.device_put(seq2seq_batch(np.random.default_rng(0), B, S, T, 9597, 7704))
  init_args = tuple(batch[k][:1] for k in ("src", "src_len", "tgt_in"))
  config = ml_collections.ConfigDict(
    {"seed": 0, "train": train_config(optimizer="adam", learning_rate=5e-4, clip=1.0)}
  )

  steps, holders = {}, {}
  for name, cfg in (
    ("step, hash dropout", CFG),
    ("step, threefry dropout", dataclasses.replace(CFG, dropout_rng="threefry")),
    ("step, no dropout", dataclasses.replace(CFG, dropout=0.0)),
  ):
    model = Transformer(cfg)
    steps[name] = train.make_steps(translation.make_loss_fn(model, 0.0))[0]
    holders[name] = [train.create_state(model, init_args, config)]

  def run_step(name):
    def f():
      holders[name][0], sums, _ = steps[name](holders[name][0], batch)
      jax.block_until_ready(sums)

    return f

  model = Transformer(CFG)
  loss_fn = translation.make_loss_fn(model, 0.0)
  params = jax.tree.map(jnp.copy, holders["step, hash dropout"][0].params)  # steps donate
  key = jax.random.PRNGKey(0)
  forward = jax.jit(lambda p: loss_fn(p, batch, key, True)[0])
  grad = jax.jit(jax.grad(lambda p: loss_fn(p, batch, key, True)[0]))
  grads = grad(params)
  tx = train.make_optimizer(config.train)
  opt_state = tx.init(params)

  @jax.jit
  def update(p, o, g):
    u, o = tx.update(g, o, p)
    return optax.apply_updates(p, u), o

  head_params = params["params"]["decoder"]["fc_out"]
  y = jax.random.normal(key, (B, T, CFG.hid))

  def head_loss(w, y):  # the step's own head and loss: layouts.matmul, the fused cross entropy
    logits = layouts.matmul(y.reshape(-1, CFG.hid), w["kernel"]) + w["bias"]
    return softmax_cross_entropy(logits, batch["tgt_out"].reshape(-1))[0].mean()

  head = jax.jit(jax.grad(head_loss, argnums=(0, 1)))
  parts = {
    **{name: run_step(name) for name in steps},
    "forward (train mode)": lambda: forward(params).block_until_ready(),
    "forward + backward": lambda: jax.block_until_ready(grad(params)),
    "clip + Adam update": lambda: jax.block_until_ready(update(params, opt_state, grads)),
    "output head fwd+bwd": lambda: jax.block_until_ready(head(head_params, y)),
  }
  for f in parts.values():  # compile and warm, then the bench's interleaved timing
    f()
  ms = {k: 1e3 * median(v) for k, v in interleaved(parts, ARGS.repeats, target_s=0.3).items()}
  name = "step, hash dropout"
  flops = cost_flops(steps[name].lower(holders[name][0], batch).compile())
  matmul = matmul_flops(ARGS.repeats)["flop_per_s"]
  print(
    f"batch {B} x {S}/{T} tokens, jax {jax.__version__}, {jax.devices()[0].device_kind}; "
    f"medians of {ARGS.repeats} interleaved repeats"
  )
  for k, v in ms.items():
    print(f"  {k:28s} {v:8.1f} ms")
  rates = {
    "step": (flops, ms[name]),
    "forward": (cost_flops(forward.lower(params).compile()), ms["forward (train mode)"]),
    "forward + backward": (
      cost_flops(grad.lower(params).compile()),
      ms["forward + backward"],
    ),
  }
  for part, (f, t) in rates.items():
    print(
      f"  {part:20s} {f / 1e9:6.2f} GFLOP -> {f / t / 1e6:6.1f} GFLOP/s = "
      f"{100 * f / t * 1e3 / matmul:5.1f} % of the 2048^2 matmul's {matmul / 1e9:.1f} GFLOP/s"
    )
  if ARGS.trace:
    trace_table(batch, init_args, config)


def trace_table(batch, init_args, config):
  """Kernel ms per step by (phase, module path) from a profiler trace of 5 steps."""
  # A fresh jit of the step, compiled last, so the newest train_step HLO dump is its own.
  model = Transformer(CFG)
  step_fn = train.make_steps(translation.make_loss_fn(model, 0.0))[0]
  holder = [train.create_state(model, init_args, config)]

  def step():
    holder[0], sums, _ = step_fn(holder[0], batch)
    jax.block_until_ready(sums)

  for _ in range(3):
    step()
  jax.profiler.start_trace(ARGS.trace)
  for _ in range(5):
    step()
  jax.profiler.stop_trace()
  dumps = sorted(glob.glob(f"{ARGS.trace}/hlo/module_*.jit_train_step.*after_optimizations.txt"))
  op_names = {}
  for line in open(dumps[-1]):
    m = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]*)"', line)
    if m:
      op_names[m.group(1)] = m.group(2)
  trace = sorted(glob.glob(f"{ARGS.trace}/plugins/profile/*/*.trace.json.gz"))[-1]
  events = [
    e
    for e in json.load(gzip.open(trace))["traceEvents"]
    if e.get("ph") == "X" and e["name"] in op_names
  ]
  table = collections.defaultdict(float)
  for e in events:
    op = op_names[e["name"]].replace("jit(train_step)/", "")
    phase = "backward" if "transpose(" in op else "forward"
    path = re.sub(r"transpose\(|jvp\(|\)", "", op)
    path = re.sub(r"layers_\d", "layers_N", path)
    table[(phase, "/".join(path.split("/")[: ARGS.depth]))] += e["dur"] / 5e3
  total = sum(table.values())
  print(f"\nkernel time per step by part (sum over threads {total:.1f} ms; trace {trace}):")
  for (phase, path), t in sorted(table.items(), key=lambda kv: -kv[1])[:30]:
    print(f"  {t:7.2f} ms {100 * t / total:5.1f} %  {phase:8s} {path}")


if __name__ == "__main__":
  sys.exit(main())
