"""One-process A/B of the fp32 train step's levers (issue 15): the bench's transformer step
(batch 64 x 24/24, Multi30k sizes) with each lever added to the previous ones.

  PYTHONPATH=. python experiments/cpu_step/levers_ab.py [--rounds=30]   # run alone

The baseline restores the code paths before these levers, in this process, while its step
is traced: autodiff of log_softmax + take_along_axis for the loss, flax's nn.Dense, and
attention's two einsums; the last variant adds the fused head (train.fused_head_rows).
Each round runs every variant once, in a shuffled order; the table gives each one's median
ms and the median over rounds of baseline / variant with a 95 % bootstrap interval (paired
rounds: a slow minute slows both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import train
from seq2seq_jax.bench.families import batches, create_state, family
from seq2seq_jax.models import layers
from seq2seq_jax.models import transformer as tr
from seq2seq_jax.tasks import base, translation


def autodiff_sequence_loss(logits, targets, lengths, *, label_smoothing=0.0, **_):
  """The loss before `base.softmax_cross_entropy` (token reduction, unpacked batches)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32))
  mask = (jnp.arange(logits.shape[1])[None] < lengths[:, None]).astype(jnp.float32)
  nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  per_tok = base.smoothed(nll, logp, label_smoothing)
  weight = mask.sum()
  correct = (jnp.argmax(logits, -1) == targets) * mask
  sums = base.Sums(nll.sum(), weight, weight, {"correct": correct.sum()})
  return (per_tok * mask).sum() / jnp.maximum(weight, 1.0), sums


def einsum_attend(self, q, k, v, mask, deterministic: bool):
  """MultiHeadAttention.attend before `kernels.layouts`: XLA's einsums and their autodiff."""
  energy = jnp.einsum("bqhd,bhkd->bhqk", q, k) / jnp.sqrt(jnp.float32(q.shape[-1]))
  attention = jax.nn.softmax(jnp.where(mask, energy, tr.NEG_INF_ENERGY), axis=-1)
  x = jnp.einsum("bhqk,bhkd->bqhd", self.drop(attention, deterministic=deterministic), v)
  return self.fc_o(x.reshape(x.shape[:2] + (self.hid,))), attention


CURRENT = {
  "loss": translation.sequence_loss,
  "dense": layers.Dense,
  "attend": tr.MultiHeadAttention.attend,
}
BEFORE = {"loss": autodiff_sequence_loss, "dense": nn.Dense, "attend": einsum_attend}
VARIANTS = [  # (name, levers on): cumulative
  ("before (autodiff loss, nn.Dense, einsum attention)", ()),
  ("+ fused cross entropy (tasks/base.py)", ("loss",)),
  ("+ weight gradients as NN matmuls (layers.Dense)", ("loss", "dense")),
  ("+ attention gradients as NN matmuls", ("loss", "dense", "attend")),
  ("+ head and loss fused, in chunks (kernels/head_loss.py)", ("loss", "dense", "attend", "head")),
]
HEAD_ROWS = 384  # train.fused_head_rows's CPU default (tasks/translation.py: head_rows)


@contextlib.contextmanager
def levers(on):
  pick = {k: (CURRENT if k in on else BEFORE)[k] for k in CURRENT}
  translation.sequence_loss, layers.Dense = pick["loss"], pick["dense"]
  tr.MultiHeadAttention.attend = pick["attend"]
  try:
    yield
  finally:
    translation.sequence_loss, layers.Dense = CURRENT["loss"], CURRENT["dense"]
    tr.MultiHeadAttention.attend = CURRENT["attend"]


def paired(fns: dict, rounds: int) -> None:
  """Prints median ms and the paired speed-up over the first entry, with its 95 % interval."""
  for f in fns.values():
    f(), f()
  times = {k: [] for k in fns}
  order = list(fns)
  for _ in range(rounds):
    random.Random(len(times[order[0]])).shuffle(order)
    for k in order:
      t = time.perf_counter()
      fns[k]()
      times[k].append(time.perf_counter() - t)
  base_t = np.array(times[next(iter(fns))])
  boot = np.random.default_rng(0)
  print("| variant | ms/step (median) | speed-up over the first (paired median) | 95 % interval |")
  print("|---|---|---|---|")
  for k, v in times.items():
    r = base_t / np.array(v)
    meds = [np.median(r[boot.integers(0, len(r), len(r))]) for _ in range(1000)]
    lo, hi = np.percentile(meds, [2.5, 97.5])
    print(f"| {k} | {1e3 * np.median(v):.1f} | {np.median(r):.3f}x | [{lo:.3f}, {hi:.3f}] |")


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rounds", type=int, default=30)
  args = p.parse_args()
  fam = family("transformer", False)
  b = batches("transformer", fam, 64, 24, 24)
  batch = jax.device_put(b["jax"])
  fns = {}
  for name, on in VARIANTS:
    with levers(on):
      model = tr.Transformer(fam["model"].cfg)
      holder = [create_state(model, b["init_args"], **fam["train_kw"])]
      rows = HEAD_ROWS if "head" in on else 0
      step = train.make_steps(translation.make_loss_fn(model, 0.0, "token", rows))[0]
      compiled = step.lower(holder[0], batch).compile()

    def run(holder=holder, compiled=compiled):
      holder[0], sums, _ = compiled(holder[0], batch)
      jax.block_until_ready(sums)

    fns[name] = run
  paired(fns, args.rounds)


if __name__ == "__main__":
  main()
