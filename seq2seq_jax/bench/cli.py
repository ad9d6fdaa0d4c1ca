"""The benchmark's command line: parse the flags, bench each family at each batch size,
print bench.md and write bench.json and bench.md to --out."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import jax

import seq2seq_jax.bench
from seq2seq_jax.bench.families import DEFAULT_BATCHES, DEFAULT_LENGTHS, MODELS
from seq2seq_jax.bench.measure import bench_family
from seq2seq_jax.bench.memory import rss_mb
from seq2seq_jax.bench.report import cpu_flags, cpu_name, markdown
from seq2seq_jax.bench.timing import matmul_flops


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=seq2seq_jax.bench.__doc__.splitlines()[0])
  p.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
  p.add_argument("--batch", default="", help="comma-separated batch sizes (default: per model)")
  p.add_argument("--src_len", type=int, default=0, help="source length (0: per model)")
  p.add_argument("--tgt_len", type=int, default=0, help="target length (0: per model)")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--target_s", type=float, default=0.3, help="seconds per timed measurement")
  p.add_argument(
    "--ref_sentences",
    type=int,
    default=16,
    help="sentences the PyTorch reference decodes one by one per measurement",
  )
  p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
  p.add_argument("--out", default="", help="directory for bench.json and bench.md")
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
  p.add_argument(
    "--memory",
    action=argparse.BooleanOptionalAction,
    default=True,
    help="peak RSS of each side's training, each in a fresh process of its own",
  )
  p.add_argument(
    "--probe", choices=("jax", "torch"), default=None, help=argparse.SUPPRESS
  )  # internal: one side's memory probe
  return p.parse_args(argv)


def run(args) -> dict:
  import torch

  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  models = [m.strip() for m in args.models.split(",") if m.strip()]
  unknown = sorted(set(models) - set(MODELS))
  if unknown:
    raise SystemExit(f"unknown model(s) {', '.join(unknown)}; use {', '.join(MODELS)}")
  results = []
  for name in models:
    batches = (
      [int(b) for b in args.batch.split(",")]
      if args.batch
      else [4]
      if args.quick
      else list(DEFAULT_BATCHES[name])
    )
    s, t = DEFAULT_LENGTHS[name]
    if args.quick:
      s, t = 6, (6 if t else 0)
    s, t = args.src_len or s, (args.tgt_len or t) if t else 0
    for b in batches:
      print(f"[bench] {name} batch {b} ...", file=sys.stderr, flush=True)
      results.append(bench_family(name, b, s, t, args))
  report = {
    "machine": {
      "cpu": cpu_name(),
      "cpu_flags": cpu_flags(),
      "cores": os.cpu_count(),
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "device": jax.devices()[0].device_kind,
      "torch": torch.__version__,
      "torch_threads": torch.get_num_threads(),
      "python": platform.python_version(),
    },
    "repeats": args.repeats,
    "quick": args.quick,
    "matmul": None if args.probe else matmul_flops(args.repeats),
    "results": results,
    "peak_rss_mb": rss_mb(),
  }
  return report


def main(argv=None) -> dict:
  args = parse_args(argv)
  if args.probe:  # one side of one family in this fresh process: print its peak RSS
    report = run(args)
    print(json.dumps(report["results"][0]))
    return report
  report = run(args)
  report["command"] = " ".join(
    ["python -m seq2seq_jax.bench", *(sys.argv[1:] if argv is None else argv)]
  )
  md = markdown(report)
  print(md)
  if args.out:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "bench.md").write_text(md)
  return report
