"""Benchmark: seq2seq_jax vs the PyTorch references, training and decoding, in one process.

For each model family (transformer, GRU + attention, bi-GRU + additive attention, char-RNN
classifier), at the tutorials' sizes on random token batches:
  training   ms/step (median of --repeats, interleaved A B A B: seq2seq_jax, then PyTorch),
             target tokens/s (examples/s for the classifier), the first step's compile time,
             the number of compilations of the jitted step, and the speed-up JAX over PyTorch;
  decoding   sentences/s of greedy and beam 4: seq2seq_jax batched vs the reference decoded
             sentence by sentence as the tutorials do (beam 4: the references' beam_search,
             the K live hypotheses of one sentence as one batch);
  FLOPs      each train step's model FLOPs (XLA cost analysis), its achieved FLOP/s and
             their share of this machine's fp32 matmul FLOP/s (a jitted 2048x2048 matmul);
             the table shows the transformer's only: XLA counts a loop body once, so the
             scanned RNNs' figures in bench.json undercount by about the sequence length.
The JAX side is the training code's own step (train.make_steps / create_state /
make_optimizer, the tasks' loss functions); weights are initialised independently on each side.
The RNN references train one pair per optimizer step (the tutorials' loop), so their
"step" at batch B is B tutorial iterations over the same B examples.

  python -m seq2seq_jax.bench --out=bench_out [--models=...] [--batch=64] [--repeats=5]
  python -m seq2seq_jax.bench --quick --out=/tmp/bench   # tiny sizes: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from seq2seq_jax import decoding, train
from seq2seq_jax.config import train_config
from seq2seq_jax.models.classifier import CharClassifier
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from seq2seq_jax.models.transformer import Transformer, TransformerConfig
from seq2seq_jax.tasks import classification, translation

MODELS = ("transformer", "gru_attention", "bigru", "char_rnn")
# The batches each family runs at by default: 64, plus 1 where the reference's figure is batch 1.
DEFAULT_BATCHES = {
  "transformer": (64,),
  "gru_attention": (64, 1),
  "bigru": (64,),
  "char_rnn": (64, 1),
}
DEFAULT_LENGTHS = {
  "transformer": (24, 24),
  "gru_attention": (10, 10),
  "bigru": (24, 24),
  "char_rnn": (7, 0),
}  # char_rnn: name length (letters), no target
BOS, EOS = 2, -1  # eos -1: every decode runs the full max_len (random weights)
BEAM = 4


def _median(xs):
  return float(statistics.median(xs))


def _time(fn, n: int) -> float:
  t0 = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t0) / n


def _inner(fn, target_s: float) -> int:
  """Calls per measurement so that one measurement takes about target_s (fn already warm)."""
  dt = _time(fn, 1)
  return max(1, min(1000, math.ceil(target_s / max(dt, 1e-6))))


def interleaved(fns: dict, repeats: int, target_s: float) -> dict[str, list[float]]:
  """Seconds per call of each fn (warm), measured A B A B ... `repeats` times each."""
  inner = {k: _inner(f, target_s) for k, f in fns.items()}
  out = {k: [] for k in fns}
  for _ in range(repeats):
    for k, f in fns.items():
      out[k].append(_time(f, inner[k]))
  return out


def matmul_flops(repeats: int, n: int = 2048) -> dict:
  """fp32 FLOP/s of a jitted n x n matmul on this machine (median of repeats)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  mm(a, b).block_until_ready()
  times = [_time(lambda: mm(a, b).block_until_ready(), 1) for _ in range(max(repeats, 3))]
  return {"n": n, "median_s": _median(times), "flop_per_s": 2.0 * n**3 / _median(times)}


def _cost_flops(compiled) -> float | None:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and "flops" in cost else None


# -- model families -------------------------------------------------------------------------


def _state(model, init_args, **train_kw):
  config = ml_collections.ConfigDict({"seed": 0, "train": train_config(**train_kw)})
  return train.create_state(model, init_args, config)


def _seq2seq_batch(rng, b: int, s: int, t: int, src_vocab: int, tgt_vocab: int) -> dict:
  src = rng.integers(4, src_vocab, (b, s)).astype(np.int32)
  tgt = rng.integers(4, tgt_vocab, (b, t + 1)).astype(np.int32)
  tgt[:, 0] = BOS
  return {
    "src": src,
    "src_len": np.full((b,), s, np.int32),
    "tgt_in": tgt[:, :-1],
    "tgt_out": tgt[:, 1:],
    "tgt_len": np.full((b,), t, np.int32),
  }


def _family(name: str, quick: bool):
  """-> dict(model, jax train kwargs, torch builder, units) for a family at its sizes."""
  import torch

  from seq2seq_jax.interop import torch_models, torch_rnn_models

  if name == "transformer":
    cfg = (
      TransformerConfig(50, 60, hid=32, enc_layers=1, dec_layers=1, heads=2, ff=64)
      if quick
      else TransformerConfig(src_vocab_size=9597, tgt_vocab_size=7704)
    )
    model = Transformer(cfg)

    def build_torch():
      tm = torch_models.build_transformer(cfg, src_pad_idx=1, trg_pad_idx=1)
      opt = torch.optim.Adam(tm.parameters(), lr=5e-4)
      crit = torch.nn.CrossEntropyLoss(ignore_index=1)

      def step(batch):  # the tutorial's train loop body, batched
        tm.train()
        src, tgt = batch["t_src"], batch["t_tgt"]
        opt.zero_grad()
        out, _ = tm(src, tgt[:, :-1])
        loss = crit(out.reshape(-1, out.shape[-1]), tgt[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        opt.step()

      def greedy(src_ids, max_len):
        return torch_models.translate_sentence(tm, src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len)

      def beam(src_ids, max_len):
        return torch_models.beam_search(
          tm, src_ids, bos_id=BOS, eos_id=EOS, beam_size=BEAM, max_len=max_len
        )

      return step, greedy, beam

    return dict(
      model=model,
      vocab=(cfg.src_vocab_size, cfg.tgt_vocab_size),
      train_kw=dict(optimizer="adam", learning_rate=5e-4, clip=1.0),
      loss=translation.make_loss_fn(model, 0.0),
      build_torch=build_torch,
      torch_batched=True,
    )

  if name in ("gru_attention", "bigru"):
    h = 32 if quick else 256
    if name == "gru_attention":
      vocab = (50, 60) if quick else (4489, 2925)
      cfg = RNNSeq2SeqConfig(
        vocab[0],
        vocab[1],
        embed=h,
        hidden=h,
        attention="fixed",
        max_length=8 if quick else 10,
        fixed_slots="all",
        bridge="copy",
      )
    else:
      vocab = (50, 60) if quick else (8003, 8003)
      cfg = RNNSeq2SeqConfig(
        vocab[0],
        vocab[1],
        embed=h,
        hidden=h,
        bidirectional=True,
        attention="additive",
        max_length=0,
        bridge="tanh",
        dropout=0.0,
      )
    model = RNNSeq2Seq(cfg)

    def build_torch():
      ref = torch_rnn_models.build_translator(cfg)

      def step(batch):  # the tutorial's loop: one pair per SGD step, B pairs
        ref.train()
        for src_ids, tgt_ids in batch["pairs"]:
          torch_rnn_models.train_pair(ref, opt, src_ids, tgt_ids)

      opt = torch.optim.SGD(ref.parameters(), lr=0.01)
      ref.eval()

      def greedy(src_ids, max_len):
        ref.eval()
        return ref.greedy(src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len)

      def beam(src_ids, max_len):
        return ref.beam_search(src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len, beam_size=BEAM)

      return step, greedy, beam

    return dict(
      model=model,
      vocab=vocab,
      max_length=cfg.max_length,
      train_kw=dict(optimizer="sgd", learning_rate=0.01, clip=0.0),
      loss=translation.make_loss_fn(model, 0.0, "sequence"),
      build_torch=build_torch,
      torch_batched=False,
    )

  if name == "char_rnn":
    letters, classes = 57, 18
    model = CharClassifier(
      num_classes=classes, num_letters=letters, cell="tutorial", hidden=16 if quick else 128
    )

    def build_torch():
      ref = torch_rnn_models.RNN(letters, model.hidden, classes)
      opt = torch.optim.SGD(ref.parameters(), lr=0.005)

      def step(batch):  # the tutorial's train(): one name per SGD step, B names
        for onehot, label in batch["names"]:
          opt.zero_grad()
          out = ref.classify(onehot)
          loss = torch.nn.functional.cross_entropy(out, label)
          loss.backward()
          opt.step()

      return step, None, None

    return dict(
      model=model,
      vocab=(letters, classes),
      train_kw=dict(optimizer="sgd", learning_rate=0.005, clip=0.0),
      loss=classification.make_loss_fn(model, 0.0, np.ones(classes, np.float32)),
      build_torch=build_torch,
      torch_batched=False,
    )
  raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")


def _rss_mb() -> float:
  """This process's peak RSS in MB: VmHWM (its own address space's high-water mark), else
  ru_maxrss (which on Linux a child inherits from its parent across fork + exec)."""
  try:
    for line in Path("/proc/self/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        return float(line.split()[1]) / 1024.0  # kB
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def peak_memory(name: str, batch: int, src_len: int, tgt_len: int, args, side: str) -> dict:
  """Peak RSS (MB) of a fresh process that runs 3 train steps of one side only, and its RSS
  high-water before building the model (imports of jax, torch and the data)."""
  cmd = [
    sys.executable,
    "-m",
    "seq2seq_jax.bench",
    f"--probe={side}",
    f"--models={name}",
    f"--batch={batch}",
    f"--src_len={src_len}",
    f"--tgt_len={tgt_len}",
    f"--threads={args.threads}",
  ] + (["--quick"] if args.quick else [])
  out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def bench_family(name: str, batch: int, src_len: int, tgt_len: int, args) -> dict:
  import torch

  fam = _family(name, args.quick)
  model, rng = fam["model"], np.random.default_rng(0)
  if name == "char_rnn":
    letters, classes = fam["vocab"]
    chars = rng.integers(1, letters + 1, (batch, src_len)).astype(np.int32)
    jbatch = {
      "chars": chars,
      "length": np.full((batch,), src_len, np.int32),
      "label": rng.integers(0, classes, (batch,)).astype(np.int32),
      "index": np.arange(batch, dtype=np.int32),
    }
    init_args = (jnp.asarray(chars[:1]), jnp.asarray(jbatch["length"][:1]))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(chars).long() - 1, letters).float()
    tbatch = {
      "names": [(onehot[i][:, None], torch.tensor([int(jbatch["label"][i])])) for i in range(batch)]
    }
    units, per_step = "examples", batch
  else:
    src_len = min(src_len, fam.get("max_length") or src_len)
    jbatch = _seq2seq_batch(rng, batch, src_len, tgt_len, *fam["vocab"])
    init_args = tuple(jnp.asarray(jbatch[k][:1]) for k in ("src", "src_len", "tgt_in"))
    full = np.concatenate([jbatch["tgt_in"], jbatch["tgt_out"][:, -1:]], axis=1)
    tbatch = {
      "t_src": torch.from_numpy(jbatch["src"]).long(),
      "t_tgt": torch.from_numpy(full).long(),
      "pairs": [(jbatch["src"][i].tolist(), full[i].tolist()) for i in range(batch)],
    }
    units, per_step = "target tokens", batch * tgt_len

  if args.probe == "torch":
    base = _rss_mb()
    torch_step = fam["build_torch"]()[0]
    for _ in range(3):
      torch_step(tbatch)
    return {"peak_rss_mb": _rss_mb(), "baseline_rss_mb": base}

  # -- training --
  base = _rss_mb()
  state = _state(model, init_args, **fam["train_kw"])
  train_step, _ = train.make_steps(fam["loss"])
  holder = [state]

  def jax_step():
    holder[0], sums = train_step(holder[0], jbatch)
    jax.block_until_ready(sums)

  if args.probe == "jax":
    for _ in range(3):
      jax_step()
    return {"peak_rss_mb": _rss_mb(), "baseline_rss_mb": base}

  t0 = time.perf_counter()  # first step = trace + compile (which fills jit's cache) + run
  compiled = train_step.lower(holder[0], jbatch).compile()
  jax_step()
  compile_s = time.perf_counter() - t0
  flops = _cost_flops(compiled)
  torch_step, torch_greedy, torch_beam = fam["build_torch"]()
  torch_step(tbatch)  # warm-up
  times = interleaved(
    {"jax": jax_step, "torch": lambda: torch_step(tbatch)}, args.repeats, args.target_s
  )
  j_s, t_s = _median(times["jax"]), _median(times["torch"])
  tr = {
    "units": units,
    "per_step": per_step,
    "jax": {
      "ms_per_step": 1e3 * j_s,
      "per_s": per_step / j_s,
      "compile_s": compile_s,
      "compilations": int(train_step._cache_size()),
      "ms_per_step_all": [1e3 * x for x in times["jax"]],
    },
    "torch": {
      "ms_per_step": 1e3 * t_s,
      "per_s": per_step / t_s,
      "compile_s": None,
      "compilations": None,
      "ms_per_step_all": [1e3 * x for x in times["torch"]],
      "reference_loop": "batched"
      if fam["torch_batched"]
      else f"{batch} one-example SGD steps (the tutorial's loop)",
    },
    "speedup": t_s / j_s,
  }
  if flops is not None:
    tr["jax"]["flops_per_step"] = flops
    tr["jax"]["flop_per_s"] = flops / j_s
  if args.memory:
    for side in ("jax", "torch"):
      mem = peak_memory(name, batch, src_len, tgt_len, args, side)
      tr[side]["peak_rss_mb"], tr[side]["baseline_rss_mb"] = (
        mem["peak_rss_mb"],
        mem["baseline_rss_mb"],
      )
  result = {"model": name, "batch": batch, "src_len": src_len, "tgt_len": tgt_len, "train": tr}

  # -- decoding --
  if torch_greedy is None:
    result["decode"] = None  # a classifier: nothing to decode
    return result
  params = holder[0].params
  src, src_lens = jnp.asarray(jbatch["src"]), jnp.asarray(jbatch["src_len"])
  kw = dict(max_len=tgt_len, bos_id=BOS, eos_id=EOS)

  def jax_greedy():
    jax.block_until_ready(decoding.greedy_search(model, params, src, src_lens, **kw)["tokens"])

  def jax_beam():
    jax.block_until_ready(decoding.beam_search(model, params, src, src_lens, beam_size=BEAM, **kw))

  n_ref = min(batch, args.ref_sentences)
  sents = [jbatch["src"][i].tolist() for i in range(n_ref)]

  def torch_greedy_all():
    for s in sents:
      torch_greedy(s, tgt_len)

  def torch_beam_all():
    for s in sents:
      torch_beam(s, tgt_len)

  for f in (jax_greedy, jax_beam, torch_greedy_all, torch_beam_all):
    f()  # compile / warm
  times = interleaved(
    {
      "jax_greedy": jax_greedy,
      "torch_greedy": torch_greedy_all,
      "jax_beam": jax_beam,
      "torch_beam": torch_beam_all,
    },
    args.repeats,
    args.target_s,
  )
  g_j, g_t, b_j, b_t = (
    _median(times[k]) for k in ("jax_greedy", "torch_greedy", "jax_beam", "torch_beam")
  )
  result["decode"] = {
    "max_len": tgt_len,
    "jax_batch": batch,
    "torch_sentences": n_ref,
    "greedy": {
      "jax_sent_per_s": batch / g_j,
      "torch_sent_per_s": n_ref / g_t,
      "speedup": (batch / g_j) / (n_ref / g_t),
    },
    "beam4": {
      "jax_sent_per_s": batch / b_j,
      "torch_sent_per_s": n_ref / b_t,
      "speedup": (batch / b_j) / (n_ref / b_t),
    },
  }
  return result


# -- report ---------------------------------------------------------------------------------


def _f(x, fmt="{:,.1f}"):
  return "n/a" if x is None else fmt.format(x)


def markdown(report: dict) -> str:
  m = report["machine"]
  lines = [
    f"`{report.get('command', 'python -m seq2seq_jax.bench')}`",
    "",
    f"Machine: {m['cpu']}, {m['cores']} cores; jax {m['jax']} ({m['backend']}), "
    f"torch {m['torch']} ({m['torch_threads']} threads). Medians of {report['repeats']} "
    "interleaved repeats; speed-up = PyTorch time / seq2seq_jax time.",
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
  mm = report["matmul"]
  lines += [
    "",
    f"fp32 matmul ({mm['n']}x{mm['n']}, jitted): {mm['flop_per_s'] / 1e9:,.1f} GFLOP/s.",
  ]
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
  return "\n".join(lines) + "\n"


def _cpu_name() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
      "cpu": _cpu_name(),
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
    "peak_rss_mb": _rss_mb(),
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


if __name__ == "__main__":
  main()
