"""One family at one batch size: training (ms/step, units/s, compile time, compilations,
FLOPs, peak memory) and decoding (greedy and beam 4 sentences/s), seq2seq_jax vs PyTorch."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from seq2seq_jax import decoding, train
from seq2seq_jax.bench.families import BEAM, BOS, EOS, batches, create_state, family
from seq2seq_jax.bench.memory import peak_memory, rss_mb
from seq2seq_jax.bench.timing import cost_flops, interleaved, median, onednn_problem


def _train_side(times: list[float], per_step: int, compile_s, compilations, **extra) -> dict:
  """One side's training figures from its seconds per step."""
  s = median(times)
  return {
    "ms_per_step": 1e3 * s,
    "per_s": per_step / s,
    "compile_s": compile_s,
    "compilations": compilations,
    "ms_per_step_all": [1e3 * x for x in times],
    **extra,
  }


def _decode_rates(batch: int, n_ref: int, jax_s: float, torch_s: float) -> dict:
  """Sentences/s of both sides: JAX decodes `batch` per call, PyTorch `n_ref`."""
  j, t = batch / jax_s, n_ref / torch_s
  return {"jax_sent_per_s": j, "torch_sent_per_s": t, "speedup": j / t}


def _timed_train(
  fam: dict, data: dict, args, compute_dtype: str = "float32", matmul: str = "xla"
) -> dict:
  """One train step of both sides, timed interleaved: ours with train.compute_dtype (bf16:
  bf16 params and activations inside the step, fp32 master weights) and train.matmul;
  PyTorch's in fp32, or under torch.autocast(cpu, bfloat16) when ours uses bf16 anywhere
  (compute_dtype=bfloat16 or matmul=onednn). -> dict(jax, torch: seconds per step;
  compile_s, compilations, flops (XLA's cost analysis), params (ours, after the steps),
  greedy, beam (the PyTorch reference's decoders))."""
  bf16 = compute_dtype == "bfloat16" or matmul == "onednn"
  holder = [create_state(fam["model"], data["init_args"], **fam["train_kw"])]
  step, _ = train.make_steps(fam["loss"], 1, compute_dtype, matmul)

  def jax_step():
    holder[0], sums, _ = step(holder[0], data["jax"])
    jax.block_until_ready(sums)

  t0 = time.perf_counter()  # first step = trace + compile (which fills jit's cache) + run
  compiled = step.lower(holder[0], data["jax"]).compile()
  jax_step()
  compile_s = time.perf_counter() - t0
  torch_step, torch_greedy, torch_beam = fam["build_torch"](**({"bf16": True} if bf16 else {}))
  torch_step(data["torch"])  # warm-up
  times = interleaved(
    {"jax": jax_step, "torch": lambda: torch_step(data["torch"])}, args.repeats, args.target_s
  )
  return {
    **times,
    "compile_s": compile_s,
    "compilations": int(step._cache_size()),
    "flops": cost_flops(compiled),
    "params": holder[0].params,
    "greedy": torch_greedy,
    "beam": torch_beam,
  }


def bench_family(name: str, batch: int, src_len: int, tgt_len: int, args) -> dict:
  """-> dict(model, batch, src_len, tgt_len, train, decode); with args.probe, only one
  side's 3 train steps and dict(peak_rss_mb, baseline_rss_mb) (memory.peak_memory)."""
  fam = family(name, args.quick)
  model, data = fam["model"], batches(name, fam, batch, src_len, tgt_len)
  jbatch, tbatch, src_len = data["jax"], data["torch"], data["src_len"]

  if args.probe:  # one side's 3 train steps, for its peak memory in a fresh process
    base = rss_mb()
    if args.probe == "torch":
      step_fn = fam["build_torch"]()[0]
    else:
      state = [create_state(model, data["init_args"], **fam["train_kw"])]
      train_step, _ = train.make_steps(fam["loss"])

      def step_fn(batch):
        state[0], sums, _ = train_step(state[0], batch)
        jax.block_until_ready(sums)

    for _ in range(3):
      step_fn(tbatch if args.probe == "torch" else jbatch)
    return {"peak_rss_mb": rss_mb(), "baseline_rss_mb": base}

  # -- training --
  run = _timed_train(fam, data, args)
  times, flops, torch_greedy, torch_beam = run, run["flops"], run["greedy"], run["beam"]
  per_step = data["per_step"]
  loop = (
    "batched" if fam["torch_batched"] else f"{batch} one-example SGD steps (the tutorial's loop)"
  )
  tr = {
    "units": data["units"],
    "per_step": per_step,
    "jax": _train_side(times["jax"], per_step, run["compile_s"], run["compilations"]),
    "torch": _train_side(times["torch"], per_step, None, None, reference_loop=loop),
    "speedup": median(times["torch"]) / median(times["jax"]),
  }
  if flops is not None:
    tr["jax"]["flops_per_step"] = flops
    tr["jax"]["flop_per_s"] = flops / median(times["jax"])
  if fam.get("bf16") and name in args.bf16:
    # XLA's bf16 dots, then (where oneDNN builds here) train.matmul=onednn's
    variants = (("bfloat16", "bfloat16", "xla"), ("bfloat16_onednn", "bfloat16", "onednn"))
    variants += (("float32_onednn", "float32", "onednn"),)  # autocast-like: bf16 matmuls only
    for key, dtype, matmul in variants:
      if matmul == "onednn" and (problem := onednn_problem()):
        tr["onednn_unavailable"] = problem
        continue
      bf = _timed_train(fam, data, args, dtype, matmul)
      tr[key] = {
        "jax": _train_side(bf["jax"], per_step, bf["compile_s"], bf["compilations"]),
        "torch": _train_side(bf["torch"], per_step, None, None),
        "speedup": median(bf["torch"]) / median(bf["jax"]),
        "jax_vs_fp32": median(times["jax"]) / median(bf["jax"]),
        "vs_torch_fp32": median(times["torch"]) / median(bf["jax"]),
      }
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
  params = run["params"]
  src, src_lens = jnp.asarray(jbatch["src"]), jnp.asarray(jbatch["src_len"])
  kw = dict(max_len=tgt_len, bos_id=BOS, eos_id=EOS)

  def jax_greedy():
    jax.block_until_ready(decoding.greedy_search(model, params, src, src_lens, **kw)["tokens"])

  def jax_beam():
    jax.block_until_ready(decoding.beam_search(model, params, src, src_lens, beam_size=BEAM, **kw))

  n_ref = min(batch, args.ref_sentences)
  sents = [jbatch["src"][i].tolist() for i in range(n_ref)]

  def one_by_one(decode):
    """The reference's way: the first n_ref sentences, one decode call each."""

    def f():
      for s in sents:
        decode(s, tgt_len)

    return f

  fns = {
    "jax_greedy": jax_greedy,
    "torch_greedy": one_by_one(torch_greedy),
    "jax_beam": jax_beam,
    "torch_beam": one_by_one(torch_beam),
  }
  for f in fns.values():
    f()  # compile / warm
  s = {k: median(v) for k, v in interleaved(fns, args.repeats, args.target_s).items()}
  result["decode"] = {
    "max_len": tgt_len,
    "jax_batch": batch,
    "torch_sentences": n_ref,
    "greedy": _decode_rates(batch, n_ref, s["jax_greedy"], s["torch_greedy"]),
    "beam4": _decode_rates(batch, n_ref, s["jax_beam"], s["torch_beam"]),
  }
  return result
