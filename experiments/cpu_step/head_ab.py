"""The fused output head and loss (`train.fused_head_rows`, kernels/head_loss.py) against
the plain logits, in one process, paired rounds (issue 15's "fused or chunked
log-softmax + cross-entropy" lever).

  PYTHONPATH=. python experiments/cpu_step/head_ab.py real [--data_dir=../shared/data/multi30k]
  PYTHONPATH=. python experiments/cpu_step/head_ab.py multi30k_head
  PYTHONPATH=. python experiments/cpu_step/head_ab.py wmt_head

real: the Multi30k recipe's train step (configs/transformer.py:multi30k) on the first
bucketed batches of its epoch holding >= 20,000 real target tokens, fused (384 rows) and
not, timed A B A B (the packing bench's machinery). multi30k_head, wmt_head: the head alone
with its gradient, at the bench's Multi30k batch (1,536 positions, H = 256, V = 7,704) or
WMT-sized (4,096 positions, H = 512, V = 32,000), plain and in chunks of 384 and 1,024
rows, with each compiled program's scratch memory. Run it alone, once with glibc's
defaults and once with the tunables the CLI restarts with (SEQ2SEQ_JAX_MALLOC aside, set
GLIBC_TUNABLES as seq2seq_jax/malloc.py does) to see both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from levers_ab import paired  # noqa: E402

from seq2seq_jax.bench import packing  # noqa: E402
from seq2seq_jax.kernels import layouts  # noqa: E402
from seq2seq_jax.tasks.base import head_sequence_loss, sequence_loss  # noqa: E402


def real(data_dir: str, tokens: int, repeats: int) -> None:
  packing.SIDES = {"fused, 384 rows": ({}, {"fused_head_rows": 384}), "plain logits": ({}, {})}
  args = argparse.Namespace(data_dir=data_dir, packing_tokens=tokens, repeats=repeats)
  p = packing.bench_packing(args)
  for s in p["sides"]:
    print(
      f"{s['name']}: {s['timed_batches']} batches, {s['ms_per_step']:.1f} ms/step, "
      f"{s['real_tokens_per_s']:,.0f} real target tokens/s; runs (s): "
      + ", ".join(f"{t:.2f}" for t in s["times_s"])
    )


HEADS = {"multi30k_head": (64, 24, 256, 7704), "wmt_head": (64, 64, 512, 32000)}


def head(rounds: int, b: int, t: int, h_dim: int, vocab: int) -> None:
  r = np.random.default_rng(0)
  h = jnp.asarray(0.5 * r.standard_normal((b, t, h_dim)), jnp.float32)
  kernel = jnp.asarray(0.05 * r.standard_normal((h_dim, vocab)), jnp.float32)
  bias = jnp.zeros((vocab,), jnp.float32)
  targets = jnp.asarray(r.integers(0, vocab, (b, t)), jnp.int32)
  lengths = jnp.full((b,), t)

  def plain(h, kernel, bias):
    z = layouts.matmul(h.reshape(-1, h_dim), kernel).reshape(b, t, vocab) + bias
    return sequence_loss(z, targets, lengths)[0]

  def fused(rows):
    return lambda *p: head_sequence_loss(p[0], p[1:], targets, lengths, chunk_rows=rows)[0]

  fns = {}
  for name, loss in (
    ("plain logits", plain),
    ("fused, 384 rows", fused(384)),
    ("fused, 1,024 rows", fused(1024)),
  ):
    f = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    mb = f.lower(h, kernel, bias).compile().memory_analysis().temp_size_in_bytes / 1e6
    print(f"{name}: scratch memory {mb:,.0f} MB")
    fns[name] = lambda f=f: jax.block_until_ready(f(h, kernel, bias))
  paired(fns, rounds)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("what", choices=("real", *HEADS))
  p.add_argument("--data_dir", default=str(Path(__file__).parents[3] / "shared/data/multi30k"))
  p.add_argument("--tokens", type=int, default=20000)
  p.add_argument("--repeats", type=int, default=7)
  args = p.parse_args()
  if args.what == "real":
    real(args.data_dir, args.tokens, args.repeats)
  else:
    head(args.repeats, *HEADS[args.what])


if __name__ == "__main__":
  main()
