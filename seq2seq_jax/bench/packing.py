"""Packed against bucketed training batches on real Multi30k, in one process
(`--models=packing`): the share of real (non-pad) target positions over a whole epoch of
each, and the train step's real target tokens/s, timed A B C A B C on warm steps.

Each side is the tutorial recipe (configs/transformer.py:multi30k, the same model and
training code) with its batching changed:
  bucketed         64 pairs a batch in the length buckets (the recipe);
  packed 8 x 128   data.packing, rows of 128 source / 124 target tokens, train.max_tokens
                   1024 (8 rows: about the target positions of a 64-pair bucketed batch);
  packed 32 x 128  the same rows, train.max_tokens 4096 (README "Packing").
A side's timed work is the first batches of its epoch (seed 0) holding at least
--packing_tokens real target tokens, so every side trains on about the same text.

  python -m seq2seq_jax.bench --models=packing --data_dir=../shared/data/multi30k --out=DIR
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[2]
PACKED = dict(packing=True, packed_length=(128, 124))
SIDES = {
  "bucketed": ({}, {}),
  "packed 8 x 128": (PACKED, dict(max_tokens=1024)),
  "packed 32 x 128": (PACKED, dict(max_tokens=4096)),
}


def recipe(data_dir: str):
  """configs/transformer.py:multi30k with its data in `data_dir`."""
  spec = importlib.util.spec_from_file_location("_bench_cfg", ROOT / "configs" / "transformer.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("multi30k")
  c.data.dir = str(Path(data_dir).resolve())
  c.seed = 0
  return c


def real_targets(batch) -> int:
  """A batch's real target positions: its pairs' lengths, or a packed batch's segments."""
  if "tgt_segment" in batch:
    return int((batch["tgt_segment"] > 0).sum())
  return int(batch["tgt_len"].sum())


def _side(name: str, data_dir: str, tokens: int, workdir: Path) -> dict:
  """One side's dataset, state and step: its epoch figures and the timed batch list."""
  from seq2seq_jax import train
  from seq2seq_jax.tasks import translation

  data, train_kw = SIDES[name]
  c = recipe(data_dir)
  c.data.update(data)
  c.train.update(train_kw)
  workdir.mkdir(parents=True, exist_ok=True)
  task = translation.build_task(c, workdir)
  real = padded = 0
  timed, timed_real = [], 0
  for batch in task.train_data.batches(seed=c.seed, epoch=0):
    n = real_targets(batch)
    real, padded = real + n, padded + batch["tgt_out"].size
    if timed_real < tokens:
      timed.append(batch)
      timed_real += n
  state = [train.create_state(task.model, task.init_args, c)]
  step, _ = train.make_steps(task.loss_fn)
  batch_shape = next(iter(task.train_data.batches(seed=c.seed, epoch=0)))["tgt_out"].shape
  return {
    "name": name,
    "rows": int(batch_shape[0]),
    "batches": task.train_data.num_batches(),
    "real_share": real / padded,
    "epoch_real_tokens": real,
    "timed": timed,
    "timed_real": timed_real,
    "state": state,
    "step": step,
  }


def bench_packing(args) -> dict:
  """-> dict(sides: [per side: rows, batches, real share, ms/step, real tokens/s])."""
  from seq2seq_jax.bench.timing import interleaved, median

  data_dir = args.data_dir or str(ROOT.parent / "shared" / "data" / "multi30k")
  sides = []
  with tempfile.TemporaryDirectory() as tmp:
    for name in SIDES:
      print(f"[bench] packing: {name} ...", file=sys.stderr, flush=True)
      sides.append(_side(name, data_dir, args.packing_tokens, Path(tmp) / name.replace(" ", "_")))

  def run(side):
    def once():
      for batch in side["timed"]:
        side["state"][0], sums, _ = side["step"](side["state"][0], batch)
      jax.block_until_ready(sums)

    return once

  fns = {s["name"]: run(s) for s in sides}
  for s in sides:  # compile every shape of the timed batches first
    seen = set()
    for batch in s["timed"]:
      if batch["tgt_out"].shape not in seen:
        seen.add(batch["tgt_out"].shape)
        s["state"][0], sums, _ = s["step"](s["state"][0], batch)
    jax.block_until_ready(sums)
  times = interleaved(fns, args.repeats, 0.0)
  rows = []
  for s in sides:
    t = median(times[s["name"]])
    rows.append(
      {
        "name": s["name"],
        "rows": s["rows"],
        "batches_per_epoch": s["batches"],
        "real_share": s["real_share"],
        "timed_batches": len(s["timed"]),
        "ms_per_step": 1e3 * t / len(s["timed"]),
        "real_tokens_per_s": s["timed_real"] / t,
        "times_s": times[s["name"]],
      }
    )
  base = rows[0]["real_tokens_per_s"]
  for r in rows:
    r["speedup"] = r["real_tokens_per_s"] / base
  return {"sides": rows, "tokens": args.packing_tokens, "data_dir": data_dir}


def markdown(p: dict) -> list[str]:
  """bench.md's packing table."""
  lines = [
    "Packed vs bucketed training batches (Multi30k, the tutorial transformer, fp32; each "
    f"side timed on the first batches of its epoch holding >= {p['tokens']:,} real target "
    "tokens, medians of interleaved repeats):",
    "",
    "| batches | rows | batches / epoch | real target share (epoch) | ms / step "
    "| real target tokens/s | vs bucketed |",
    "|---|---|---|---|---|---|---|",
  ]
  for r in p["sides"]:
    lines.append(
      f"| {r['name']} | {r['rows']} | {r['batches_per_epoch']} | {r['real_share']:.3f} | "
      f"{r['ms_per_step']:,.1f} | {r['real_tokens_per_s']:,.0f} | {r['speedup']:.2f}x |"
    )
  return lines
