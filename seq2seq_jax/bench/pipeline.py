"""The input pipeline alone (`--models=pipeline`): on generated WMT-layout corpora of
`--sizes` pairs, preparation time and the streamed pipeline's examples/s and peak RSS,
against the rate at which the Multi30k transformer's train step consumes examples.

Per size, each phase in a fresh process of its own (so sizes and phases do not share a
high-water mark; `--probe=prepare|read --pipeline_size=N`):
  prepare  the tfds builder (array_record files), the vocabularies (one streamed count)
           and the token store (one streamed encode into the run directory, with the
           length histogram; data/token_store.py): seconds each, peak RSS;
  read     one epoch of the training batches through data.pipeline=grain (records read,
           encoded and bucketed into [64, edge] batches; nothing trains): examples/s and the
           process's peak RSS (VmHWM), plus its grain workers' largest; examples/s from
           the first batch on (the workers' start, spawn + imports, is `first batch s`).
The corpus (`data/sample.py`: invented words, Zipf over 32 k words per side, log-normal
lengths around WMT's) is written once under --bench_data/wmt_<N> and reused; its
prepared cache and run directory (cache_<N>, run_<N>) are made anew on every run.
Consumption: 64 / the transformer train step's seconds (the tutorial transformer at the
Multi30k vocabulary sizes, batch 64, 24 + 24 tokens: `bench_family`'s figure when
--models holds transformer, else --step_ms, else timed here as `measure.py` does).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from seq2seq_jax.bench.memory import rss_mb

PIPELINE = "pipeline"  # its --models name (not a model family: not in the default run)
BATCH = 64  # the Multi30k recipe's batch
EDGES = (16, 24, 32, 48, 64, 96)  # word lengths of the generated corpora: up to 80 + 2


def default_bench_data() -> str:
  from seq2seq_jax.data.builders.base import default_cache_dir

  return str(Path(default_cache_dir()) / "bench")


def corpus(root: Path, pairs: int) -> Path:
  """The generated corpus of `pairs` training pairs under root (written once)."""
  from seq2seq_jax.data.sample import write_wmt_sample

  path = root / f"wmt_{pairs}"
  if not (path / ".done").exists():
    print(f"[bench] writing {pairs:,} pairs to {path} ...", file=sys.stderr, flush=True)
    write_wmt_sample(path, pairs, valid=1000, test=1000, words=32_000, seed=pairs)
    (path / ".done").write_text("")
  return path


def _config(root: Path, pairs: int, workers: int):
  """The wmt config of one corpus: streamed, whitespace words, 32 k vocabularies."""
  from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config

  c = run_config("translation", seed=0)
  c.data = data_config(
    "wmt",
    dir=str(corpus(root, pairs)),
    cache_dir=str(root / f"cache_{pairs}"),
    lowercase=False,
    max_vocab=32_000,
    bucket_edges=EDGES,
    pipeline="grain",
    workers=workers,
  )
  c.model = model_config("transformer")
  c.train = train_config(batch_size=BATCH)
  c.decode = decode_config()
  return c


def probe(phase: str, root: Path, pairs: int, workers: int, limit: int) -> dict:
  """One phase for one corpus, in this (fresh) process: its figures as a dict."""
  from seq2seq_jax.data import registry
  from seq2seq_jax.data.streaming import StreamedPairs
  from seq2seq_jax.tasks import translation

  c = _config(root, pairs, workers)
  workdir = root / f"run_{pairs}"
  workdir.mkdir(parents=True, exist_ok=True)
  base = rss_mb()
  t0 = time.perf_counter()
  stream = registry.stream_parallel(c.data)  # prepares (tfds) unless cached
  t_builder = time.perf_counter() - t0
  data = StreamedPairs(stream, workers=workers)
  t0 = time.perf_counter()
  vocabs = translation.vocabs_for(c, workdir, data)
  t_vocab = time.perf_counter() - t0
  t0 = time.perf_counter()
  train = translation.streamed_dataset(c, workdir, data, *vocabs)
  t_tokenise = time.perf_counter() - t0
  if phase == "prepare":
    return {
      "builder_s": t_builder,
      "vocab_s": t_vocab,
      "tokenise_s": t_tokenise,
      "prepare_s": t_builder + t_vocab + t_tokenise,
      "prepare_peak_rss_mb": rss_mb(),
    }
  start_rss = rss_mb()
  examples = batches = 0
  t0 = time.perf_counter()
  it = train.batches(seed=0, epoch=0)
  first, t_first = 0, 0.0
  for batch in it:
    examples += int((batch["index"] >= 0).sum())
    batches += 1
    if batches == 1:  # the workers have started: the steady rate is timed from here
      first, t_first = examples, time.perf_counter()
    if limit and examples >= limit:
      break
  it.close()
  end = time.perf_counter()
  seconds = end - t0
  children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
  return {
    "examples": examples,
    "batches": batches,
    "read_s": seconds,
    "first_batch_s": t_first - t0,
    "examples_per_s": (examples - first) / max(end - t_first, 1e-9),
    "baseline_rss_mb": base,
    "start_rss_mb": start_rss,
    "peak_rss_mb": rss_mb(),
    "worker_peak_rss_mb": children if workers else None,
    "dropped": train.dropped(),
    "epoch_batches": train.num_batches(),
  }


def _child(phase: str, pairs: int, args) -> dict:
  cmd = [
    sys.executable,
    "-m",
    "seq2seq_jax.bench",
    f"--probe={phase}",
    f"--pipeline_size={pairs}",
    f"--bench_data={args.bench_data}",
    f"--workers={args.workers}",
    f"--pipeline_examples={args.pipeline_examples}",
  ]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
  if proc.returncode:
    raise SystemExit(
      f"the pipeline bench's {phase} phase at {pairs:,} pairs failed (exit {proc.returncode}):\n"
      + "\n".join(proc.stderr.strip().splitlines()[-15:])
    )
  return json.loads(proc.stdout.strip().splitlines()[-1])


def train_step_s(repeats: int) -> float:
  """Seconds per train step of the Multi30k-sized transformer, batch 64, 24 + 24 tokens."""
  import jax

  from seq2seq_jax import train
  from seq2seq_jax.bench.families import batches, create_state, family
  from seq2seq_jax.bench.timing import median

  fam = family("transformer", False)
  data = batches("transformer", fam, BATCH, 24, 24)
  state = [create_state(fam["model"], data["init_args"], **fam["train_kw"])]
  step, _ = train.make_steps(fam["loss"])

  def once():
    state[0], sums, _ = step(state[0], data["jax"])
    jax.block_until_ready(sums)

  once()
  times = []
  for _ in range(max(repeats, 3)):
    t0 = time.perf_counter()
    once()
    times.append(time.perf_counter() - t0)
  return median(times)


def bench_pipeline(args, step_ms: float | None) -> dict:
  """-> dict(sizes: [per size: prepare and read figures], step_ms, consumed_per_s)."""
  sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
  root = Path(args.bench_data)
  if step_ms is None:
    print("[bench] timing the Multi30k transformer train step ...", file=sys.stderr, flush=True)
    step_ms = 1e3 * train_step_s(args.repeats)
  consumed = BATCH / (step_ms / 1e3)
  rows = []
  for pairs in sizes:
    corpus(root, pairs)
    for made in (root / f"cache_{pairs}", root / f"run_{pairs}"):  # prepare from scratch
      shutil.rmtree(made, ignore_errors=True)
    print(f"[bench] pipeline {pairs:,} pairs: prepare ...", file=sys.stderr, flush=True)
    prep = _child("prepare", pairs, args)
    print(f"[bench] pipeline {pairs:,} pairs: read ...", file=sys.stderr, flush=True)
    read = _child("read", pairs, args)
    rows.append({"pairs": pairs, **prep, **read, "ratio": read["examples_per_s"] / consumed})
  first = rows[0]["peak_rss_mb"]
  for r in rows:
    r["rss_growth_pct"] = 100.0 * (r["peak_rss_mb"] / first - 1.0)
  return {
    "sizes": rows,
    "step_ms": step_ms,
    "consumed_per_s": consumed,
    "workers": args.workers,
    "batch": BATCH,
    "bench_data": str(root),
  }


def markdown(p: dict) -> list[str]:
  """bench.md's pipeline table."""
  lines = [
    "Input pipeline (data.pipeline=grain, generated WMT-layout corpora, whitespace words, "
    f"32 k vocabularies, batches of {p['batch']} into edges {EDGES}, {p['workers']} grain "
    "worker processes; each phase in a fresh process):",
    "",
    "| pairs | prepare s (builder + vocab + tokenise) | examples/s | first batch s | read s "
    "| peak RSS MB | RSS vs first | worker peak RSS MB | x Multi30k step |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in p["sizes"]:
    w = r.get("worker_peak_rss_mb")
    lines.append(
      f"| {r['pairs']:,} | {r['prepare_s']:,.1f} ({r['builder_s']:,.1f} + {r['vocab_s']:,.1f} "
      f"+ {r['tokenise_s']:,.1f}) | {r['examples_per_s']:,.0f} | {r['first_batch_s']:,.1f} | "
      f"{r['read_s']:,.1f} | "
      f"{r['peak_rss_mb']:,.0f} | {r['rss_growth_pct']:+.1f} % | "
      f"{'n/a' if w is None else f'{w:,.0f}'} | {r['ratio']:,.1f}x |"
    )
  lines += [
    "",
    f"Multi30k transformer train step (batch {p['batch']}, 24 + 24 tokens): "
    f"{p['step_ms']:,.1f} ms = {p['consumed_per_s']:,.0f} examples/s consumed; "
    "x Multi30k step = the pipeline's examples/s over that. Goals: peak RSS within +15 % "
    "from the smallest to the largest size, the pipeline >= 10x the step's consumption. "
    "Preparation's own peak RSS: "
    + ", ".join(f"{r['prepare_peak_rss_mb']:,.0f}" for r in p["sizes"])
    + " MB.",
  ]
  return lines
