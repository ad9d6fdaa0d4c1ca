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
  python -m seq2seq_jax.bench --malloc=tuned ...        # both sides under malloc.py's tunables
  python -m seq2seq_jax.bench.profile [--trace=DIR]    # where the transformer's step goes

timing.py (medians, interleaved A/B timing, matmul FLOP/s, XLA FLOPs), families.py (the
models, their references, batches), memory.py (peak RSS probes), measure.py (one family at
one batch), report.py (bench.md), cli.py (flags, the run), profile.py (the profiler).
"""

# Names resolved on first use, so that importing the package (as `-m seq2seq_jax.bench.profile`
# does before setting XLA_FLAGS) does not import jax.
_EXPORTS = {
  "main": "cli",
  "parse_args": "cli",
  "run": "cli",
  "bench_family": "measure",
  "markdown": "report",
  "MODELS": "families",
  "seq2seq_batch": "families",
  "median": "timing",
  "interleaved": "timing",
  "matmul_flops": "timing",
  "cost_flops": "timing",
}


def __getattr__(name: str):
  if name in _EXPORTS:
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
