"""GPU benchmark, under 5 minutes: the training step's throughput on the default device,
fp32 and bf16 (train.compute_dtype), for three models on random token batches:

  transformer_m30k   the Multi30k tutorial's transformer (256, 3+3, 8 heads, ff 512,
                     9,597 / 7,704 words), 256 pairs of 32 + 32 tokens a step;
  transformer_base   transformer base (512, 6+6, 8 heads, ff 2048, 32 k shared pieces:
                     configs/transformer.py:wmt14_base), 96 rows of 256 + 256 tokens;
  bigru              the bi-GRU encoder + additive-attention decoder (256, 8,003 words),
                     256 pairs of 32 + 32 tokens.

Per row: ms/step, target tokens/s, the step's model FLOPs (the transformers: XLA's cost
analysis of the compiled step; the bi-GRU: counted from its parameters, 6 x used
parameters x tokens + attention, because XLA counts a scanned loop's body once), the
achieved FLOP/s and its share of (a) a jitted 8192^2 matmul of the same dtype measured in
the same run and (b) the device's datasheet peak (dense; fp32 rows against TF32 where the
GPU has it, XLA's default fp32 matmul precision there) when the device is in `PEAKS`.
No PyTorch is needed (a GPU install has requirements-cuda.txt only).

  python -m seq2seq_jax.bench.gpu [--out=DIR] [--models=...] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

# Datasheet dense peaks, TFLOP/s: (fp32 matmul as XLA runs it by default, bf16).
PEAKS = {
  "H200": (494.7, 989.4),  # TF32 / BF16 tensor cores (SXM)
  "H100": (494.7, 989.4),
  "A100": (156.0, 312.0),
  "L40S": (183.0, 362.0),
  "L4": (60.0, 121.0),
  "A10": (62.5, 125.0),
  "RTX 4090": (82.6, 165.2),
  "V100": (15.7, None),  # no bf16 tensor cores
  "T4": (8.1, None),
}
MODELS = ("transformer_m30k", "transformer_base", "bigru")
DTYPES = ("float32", "bfloat16")


def peak(kind: str, dtype: str) -> float | None:
  """The datasheet peak FLOP/s of a device kind (longest matching name), or None."""
  names = [n for n in PEAKS if n.lower() in kind.lower()]
  if not names:
    return None
  tflops = PEAKS[max(names, key=len)][DTYPES.index(dtype)]
  return None if tflops is None else tflops * 1e12


def setups(quick: bool) -> dict:
  """name -> (model, loss, (batch, src_len, tgt_len), vocab sizes)."""
  from seq2seq_jax.bench.families import BIGRU
  from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
  from seq2seq_jax.models.transformer import Transformer, TransformerConfig
  from seq2seq_jax.tasks import translation

  if quick:
    m30k = TransformerConfig(50, 60, hid=32, enc_layers=1, dec_layers=1, heads=2, ff=64)
    base = TransformerConfig(70, 70, hid=32, enc_layers=2, dec_layers=2, heads=4, ff=64)
    rnn = RNNSeq2SeqConfig(50, 60, embed=16, hidden=16, **BIGRU)
    shapes = {"transformer_m30k": (4, 6, 6), "transformer_base": (2, 8, 8), "bigru": (4, 6, 6)}
  else:
    m30k = TransformerConfig(src_vocab_size=9597, tgt_vocab_size=7704)
    base = TransformerConfig(
      32_000, 32_000, hid=512, enc_layers=6, dec_layers=6, heads=8, ff=2048, max_len=256
    )
    rnn = RNNSeq2SeqConfig(8003, 8003, embed=256, hidden=256, **BIGRU)
    shapes = {
      "transformer_m30k": (256, 32, 32),
      "transformer_base": (96, 256, 256),
      "bigru": (256, 32, 32),
    }
  out = {}
  for name, cfg, cls, reduction in (
    ("transformer_m30k", m30k, Transformer, "token"),
    ("transformer_base", base, Transformer, "token"),
    ("bigru", rnn, RNNSeq2Seq, "sequence"),
  ):
    model = cls(cfg)
    vocab = (cfg.src_vocab_size, cfg.tgt_vocab_size)
    out[name] = (model, translation.make_loss_fn(model, 0.1, reduction), shapes[name], vocab)
  return out


def rnn_flops(params, b: int, s: int, t: int) -> float:
  """Model FLOPs of one bi-GRU train step: 6 x (parameters used per source token x s +
  per target token x t) x b, plus the attention's scores and context (2 x s x t x width
  each, x 3 for the backward pass). Embedding lookups are not FLOPs."""
  size = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  p = params["params"]
  per_src = size(p["encoder"]) + size(p["attention"]["w_k"])
  per_tgt = sum(size(v) for k, v in p.items() if k.startswith(("dec_", "out")))
  per_tgt += size(p["attention"]["w_q"]) + size(p["attention"]["v"])
  width = p["attention"]["w_k"]["kernel"].shape[0]  # the encoder's output width
  attention = 2 * 2 * s * t * width
  return 3.0 * b * (2 * (per_src * s + per_tgt * t) + attention)


def matmul_peak(dtype: str, n: int) -> float:
  """Measured FLOP/s of a jitted n x n matmul in `dtype` (median of 5)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
  mm = jax.jit(jnp.matmul)
  mm(a, a).block_until_ready()
  times = []
  for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(10):
      r = mm(a, a)
    r.block_until_ready()
    times.append((time.perf_counter() - t0) / 10)
  return 2.0 * n**3 / float(np.median(times))


def bench_row(name: str, setup, dtype: str, target_s: float) -> dict:
  from seq2seq_jax import train
  from seq2seq_jax.bench.families import create_state, seq2seq_batch
  from seq2seq_jax.bench.timing import cost_flops

  model, loss, (b, s, t), vocab = setup
  batch = seq2seq_batch(np.random.default_rng(0), b, s, t, *vocab)
  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  init_args = tuple(batch[k][:1] for k in ("src", "src_len", "tgt_in"))
  state = create_state(model, init_args, optimizer="adam", learning_rate=5e-4, clip=1.0)
  step, _ = train.make_steps(loss, compute_dtype=dtype)
  t0 = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  flops = cost_flops(compiled) if name.startswith("transformer") else None
  if flops is None:
    flops = rnn_flops(state.params if hasattr(state, "params") else state, b, s, t)
  holder = [state]

  def once():
    holder[0], sums, _ = step(holder[0], batch)
    return sums

  jax.block_until_ready(once())
  t0 = time.perf_counter()
  jax.block_until_ready(once())
  n = max(1, int(target_s / max(time.perf_counter() - t0, 1e-6)))
  times = []
  for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(n):
      sums = once()
    jax.block_until_ready(sums)
    times.append((time.perf_counter() - t0) / n)
  sec = float(np.median(times))
  return {
    "model": name,
    "dtype": dtype,
    "shape": [b, s, t],
    "compile_s": compile_s,
    "ms_per_step": 1e3 * sec,
    "tokens_per_s": b * t / sec,
    "flops": flops,
    "flop_per_s": flops / sec,
  }


def run(args) -> dict:
  device = jax.devices()[0]
  models = [m for m in args.models.split(",") if m]
  unknown = sorted(set(models) - set(MODELS))
  if unknown:
    raise SystemExit(f"unknown model(s) {', '.join(unknown)}; use {', '.join(MODELS)}")
  all_setups = setups(args.quick)
  n = 256 if args.quick else 8192
  mm = {d: matmul_peak(d, n) for d in DTYPES}
  rows = []
  for name in models:
    for dtype in DTYPES:
      print(f"[bench.gpu] {name} {dtype} ...", file=sys.stderr, flush=True)
      r = bench_row(name, all_setups[name], dtype, 0.05 if args.quick else 1.0)
      r["of_matmul"] = r["flop_per_s"] / mm[dtype]
      p = peak(device.device_kind, dtype)
      r["of_peak"] = None if p is None else r["flop_per_s"] / p
      rows.append(r)
  return {
    "device": {
      "kind": device.device_kind,
      "platform": device.platform,
      "count": jax.device_count(),
    },
    "jax": jax.__version__,
    "python": platform.python_version(),
    "matmul": {"n": n, **{d: mm[d] for d in DTYPES}},
    "rows": rows,
  }


def markdown(report: dict) -> str:
  d = report["device"]
  pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"
  lines = [
    "`python -m seq2seq_jax.bench.gpu`",
    "",
    f"Device: {d['kind']} ({d['platform']}, {d['count']} device(s)); jax {report['jax']}. "
    f"Jitted {report['matmul']['n']}^2 matmul: fp32 "
    f"{report['matmul']['float32'] / 1e12:,.1f}, bf16 {report['matmul']['bfloat16'] / 1e12:,.1f} "
    "TFLOP/s.",
    "",
    "| model | dtype | batch x src x tgt | ms/step | target tokens/s | TFLOP/s "
    "| of matmul | of datasheet peak | compile s |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in report["rows"]:
    b, s, t = r["shape"]
    lines.append(
      f"| {r['model']} | {r['dtype']} | {b} x {s} x {t} | {r['ms_per_step']:,.2f} | "
      f"{r['tokens_per_s']:,.0f} | {r['flop_per_s'] / 1e12:,.2f} | {pct(r['of_matmul'])} | "
      f"{pct(r['of_peak'])} | {r['compile_s']:,.1f} |"
    )
  return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
  from seq2seq_jax.bench.report import write_report

  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default=",".join(MODELS))
  p.add_argument("--out", default="", help="directory for bench_gpu.json and bench_gpu.md")
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs (CPU)")
  args = p.parse_args(argv)
  report = run(args)
  md = markdown(report)
  print(md)
  write_report(args.out, "bench_gpu", report, md)
  return report


if __name__ == "__main__":
  main()
