"""The benchmark's report: bench.json's dict as bench.md's markdown tables."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def _f(x, fmt="{:,.1f}"):
  """x formatted, or n/a for None (a figure not measured)."""
  return "n/a" if x is None else fmt.format(x)


def markdown(report: dict) -> str:
  """bench.md: the command, the machine, the training and decoding tables, FLOPs, memory
  (and the input pipeline's table with --models=pipeline)."""
  m = report["machine"]
  lines = [
    f"`{report.get('command', 'python -m seq2seq_jax.bench')}`",
    "",
    f"Machine: {m['cpu']} ({m.get('cpu_flags') or 'no avx512/amx flags'}), {m['cores']} "
    f"cores; jax {m['jax']} on {m['backend']} ({m.get('device', '?')}), "
    f"torch {m['torch']} ({m['torch_threads']} threads). Medians of {report['repeats']} "
    "interleaved repeats; speed-up = PyTorch time / seq2seq_jax time."
    + (f" XLA_FLAGS={m['xla_flags']}" if m.get("xla_flags") else "")
    + (f" malloc (both sides): {m['malloc']}." if m.get("malloc") else ""),
  ]
  if report["results"]:
    lines += _families(report)
  if report.get("pipeline"):
    from seq2seq_jax.bench.pipeline import markdown as pipeline_markdown

    lines += ["", *pipeline_markdown(report["pipeline"])]
  if report.get("packing"):
    from seq2seq_jax.bench.packing import markdown as packing_markdown

    lines += ["", *packing_markdown(report["packing"])]
  return "\n".join(lines) + "\n"


def _families(report: dict) -> list[str]:
  """The model families' training and decoding tables, FLOPs and memory lines."""
  lines = [
    "",
    "Training:",
    "",
    "| model | batch | JAX ms/step | PyTorch ms/step | JAX units/s | PyTorch units/s | "
    "speed-up | JAX compile s | compilations | JAX peak RSS MB | PyTorch peak RSS MB |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in report["results"]:
    t = r["train"]
    lines.append(
      f"| {r['model']} | {r['batch']} | {_f(t['jax']['ms_per_step'], '{:,.2f}')} | "
      f"{_f(t['torch']['ms_per_step'], '{:,.2f}')} | {_f(t['jax']['per_s'])} | "
      f"{_f(t['torch']['per_s'])} | {t['speedup']:.2f}x | {t['jax']['compile_s']:.2f} | "
      f"{t['jax']['compilations']} | {_f(t['jax'].get('peak_rss_mb'), '{:,.0f}')} | "
      f"{_f(t['torch'].get('peak_rss_mb'), '{:,.0f}')} |"
    )
  lines.append("")
  lines.append(
    "units: target tokens (examples for char_rnn). RNN references: one example per "
    "SGD step (the tutorials' loop)."
  )
  lines += [
    "",
    "Decoding (sentences/s; JAX batched, PyTorch sentence by sentence, its beam "
    "search running a sentence's 4 hypotheses as one batch):",
    "",
    "| model | batch | greedy JAX | greedy PyTorch | greedy speed-up | beam 4 JAX | "
    "beam 4 PyTorch | beam 4 speed-up |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for r in report["results"]:
    d = r["decode"]
    if d is None:
      continue
    lines.append(
      f"| {r['model']} | {r['batch']} | {_f(d['greedy']['jax_sent_per_s'])} | "
      f"{_f(d['greedy']['torch_sent_per_s'])} | {d['greedy']['speedup']:.2f}x | "
      f"{_f(d['beam4']['jax_sent_per_s'])} | {_f(d['beam4']['torch_sent_per_s'])} | "
      f"{d['beam4']['speedup']:.2f}x |"
    )
  bf16 = [r for r in report["results"] if r["train"].get("bfloat16")]
  if bf16:
    lines += [
      "",
      "Training in bf16 (ours: train.compute_dtype=bfloat16 and/or train.matmul=onednn; "
      "PyTorch: torch.autocast(cpu, bfloat16) in every row), interleaved in this run:",
      "",
      "| model | batch | JAX matmuls | JAX ms/step | PyTorch ms/step | speed-up | "
      "JAX bf16 vs JAX fp32 | JAX bf16 vs PyTorch fp32 | PyTorch bf16 vs PyTorch fp32 |",
      "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in bf16:
      t = r["train"]
      for key, matmul in (
        ("bfloat16", "all bf16, XLA's dots"),
        ("bfloat16_onednn", "all bf16, oneDNN's matmuls (train.matmul=onednn)"),
        ("float32_onednn", "fp32, Dense matmuls bf16 in oneDNN (matmul=onednn, compute fp32)"),
      ):
        if not (b := t.get(key)):
          continue
        lines.append(
          f"| {r['model']} | {r['batch']} | {matmul} | {b['jax']['ms_per_step']:,.2f} | "
          f"{b['torch']['ms_per_step']:,.2f} | {b['speedup']:.2f}x | {b['jax_vs_fp32']:.2f}x | "
          f"{t['torch']['ms_per_step'] / b['jax']['ms_per_step']:.2f}x | "
          f"{t['torch']['ms_per_step'] / b['torch']['ms_per_step']:.2f}x |"
        )
      if t.get("onednn_unavailable"):
        lines.append(f"\ntrain.matmul=onednn not timed: {t['onednn_unavailable']}")
  mm = report["matmul"]
  lines += [
    "",
    f"fp32 matmul ({mm['n']}x{mm['n']}, jitted): {mm['flop_per_s'] / 1e9:,.1f} GFLOP/s.",
  ]
  g = report.get("matmul_gflops")
  if g:
    lines.append(
      f"{mm['n']}^2 matmul GFLOP/s: JAX fp32 {g['jax']['float32']:,.0f}, bf16 "
      f"{g['jax']['bfloat16']:,.0f}; PyTorch fp32 {g['torch']['float32']:,.0f}, bf16 "
      f"{g['torch']['bfloat16']:,.0f}"
      + (
        f"; JAX through {g['jax_onednn'].get('version', 'oneDNN')} (train.matmul=onednn) bf16 "
        f"{g['jax_onednn']['bfloat16']:,.0f}."
        if g.get("jax_onednn")
        else "."
      )
    )
  for r in report["results"]:
    j = r["train"]["jax"]
    if r["model"] == "transformer" and j.get("flops_per_step"):
      lines.append(
        f"{r['model']} batch {r['batch']} train step: {j['flops_per_step'] / 1e9:,.2f} "
        f"GFLOP/step, {j['flop_per_s'] / 1e9:,.1f} GFLOP/s achieved = "
        f"{100 * j['flop_per_s'] / mm['flop_per_s']:.1f} % of the matmul's."
      )
  base = [r["train"][k].get("baseline_rss_mb") for r in report["results"] for k in ("jax", "torch")]
  base = [b for b in base if b is not None]
  lines.append(
    "Peak RSS: a fresh process per side running 3 train steps (VmHWM; it imports jax "
    "and torch both: "
    + (
      f"{min(base):,.0f}-{max(base):,.0f} MB before building the model"
      if base
      else "n/a: --no-memory"
    )
    + "). This process, both sides and decoding: "
    f"{report['peak_rss_mb']:,.0f} MB."
  )
  return lines


CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")  # what matmuls can use


def cpu_flags() -> str:
  """The CPU_FLAGS this CPU has (/proc/cpuinfo's flags), space-separated."""
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("flags"):
        have = set(line.split(":", 1)[1].split())
        return " ".join(f for f in CPU_FLAGS if f in have)
  except OSError:
    pass
  return ""


def cpu_name() -> str:
  """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def write_report(out: str, name: str, report: dict, md: str) -> None:
  """`out`/<name>.json and <name>.md (nothing when `out` is empty)."""
  if not out:
    return
  folder = Path(out)
  folder.mkdir(parents=True, exist_ok=True)
  (folder / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
  (folder / f"{name}.md").write_text(md)
