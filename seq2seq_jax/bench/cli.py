"""The benchmark's command line: parse the flags, bench each family at each batch size (and
the input pipeline at each corpus size, `--models=pipeline`), print bench.md and write
bench.json and bench.md to --out."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import jax

import seq2seq_jax.bench
from seq2seq_jax import malloc
from seq2seq_jax.bench.families import DEFAULT_BATCHES, DEFAULT_LENGTHS, MODELS
from seq2seq_jax.bench.measure import bench_family
from seq2seq_jax.bench.memory import rss_mb
from seq2seq_jax.bench.pipeline import PIPELINE, bench_pipeline, default_bench_data, probe
from seq2seq_jax.bench.report import cpu_flags, cpu_name, markdown, write_report
from seq2seq_jax.bench.timing import matmul_flops, matmul_table

PACKING = "packing"  # --models name of packed vs bucketed Multi30k batches (bench/packing.py)
EXTRA = (PIPELINE, PACKING)  # not model families: not in the default run


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
  p.add_argument(
    "--bf16",
    default="transformer",
    help="comma-separated families that also get a bf16 training row (ours "
    "compute_dtype=bfloat16, PyTorch under autocast); '' for none",
  )
  p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
  p.add_argument(
    "--malloc",
    choices=("default", "tuned"),
    default="default",
    help="glibc malloc settings of this process, so of both sides: glibc's own (default), or "
    "the tunables `python -m seq2seq_jax.main` restarts itself with (seq2seq_jax/malloc.py; "
    "they speed the PyTorch reference's step too)",
  )
  p.add_argument("--out", default="", help="directory for bench.json and bench.md")
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
  p.add_argument(
    "--memory",
    action=argparse.BooleanOptionalAction,
    default=True,
    help="peak RSS of each side's training, each in a fresh process of its own",
  )
  p.add_argument(
    "--sizes",
    default="100000,1000000,4000000",
    help="--models=pipeline: comma-separated corpus sizes (training pairs)",
  )
  p.add_argument(
    "--bench_data",
    default="",
    help="--models=pipeline: where the generated corpora and their caches go "
    "(default: $SEQ2SEQ_JAX_CACHE/bench or ~/.cache/seq2seq_jax/bench)",
  )
  p.add_argument(
    "--workers", type=int, default=0, help="--models=pipeline: grain processes (0: in-process)"
  )
  p.add_argument(
    "--pipeline_examples",
    type=int,
    default=0,
    help="--models=pipeline: examples read per size (0: one whole epoch)",
  )
  p.add_argument(
    "--data_dir",
    default="",
    help="--models=packing: the Multi30k files (default: ../shared/data/multi30k beside the repo)",
  )
  p.add_argument(
    "--packing_tokens",
    type=int,
    default=30_000,
    help="--models=packing: real target tokens each side's timed batches hold",
  )
  p.add_argument(
    "--step_ms",
    type=float,
    default=0.0,
    help="--models=pipeline: the Multi30k transformer train step's ms (0: the transformer "
    "row's when --models has it, else timed)",
  )
  p.add_argument(
    "--probe", choices=("jax", "torch", "prepare", "read"), default=None, help=argparse.SUPPRESS
  )  # internal: one side's memory probe, one pipeline phase
  p.add_argument("--pipeline_size", type=int, default=0, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  args.bench_data = args.bench_data or default_bench_data()
  args.bf16 = tuple(m.strip() for m in args.bf16.split(",") if m.strip())
  return args


def run(args) -> dict:
  import torch

  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  models = [m.strip() for m in args.models.split(",") if m.strip()]
  unknown = sorted(set(models) - set(MODELS) - set(EXTRA))
  if unknown:
    raise SystemExit(f"unknown model(s) {', '.join(unknown)}; use {', '.join(MODELS + EXTRA)}")
  results = []
  for name in (m for m in models if m not in EXTRA):
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
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "malloc": malloc.describe(),
    },
    "repeats": args.repeats,
    "quick": args.quick,
    "matmul": None if args.probe or not results else matmul_flops(args.repeats),
    "results": results,
  }
  mm = report["matmul"]
  report["matmul_gflops"] = None if mm is None else matmul_table(args.repeats, jax_fp32=mm)
  if PIPELINE in models:  # after the families: it reuses the transformer's train step
    step = args.step_ms or next(
      (r["train"]["jax"]["ms_per_step"] for r in results if r["model"] == "transformer"), None
    )
    report["pipeline"] = bench_pipeline(args, step)
  if PACKING in models:
    from seq2seq_jax.bench.packing import bench_packing

    report["packing"] = bench_packing(args)
  report["peak_rss_mb"] = rss_mb()
  return report


def main(argv=None) -> dict:
  args = parse_args(argv)
  if args.probe in ("prepare", "read"):  # one pipeline phase in this fresh process
    root, size = Path(args.bench_data), args.pipeline_size
    print(json.dumps(probe(args.probe, root, size, args.workers, args.pipeline_examples)))
    return {}
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
  write_report(args.out, "bench", report, md)
  return report
