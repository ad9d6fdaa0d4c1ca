"""Benchmark: the tutorial transformer's train step and greedy decoding, JAX vs PyTorch.

Same machine, same run, same shapes: the Multi30k recipe's model (hid 256, 3+3
layers, 8 heads, ff 512, vocab 9,597 / 7,704, batch 64) on random token batches.
Prints steps/s (train) and sentences/s (greedy) for both and their ratios.
Run it on an otherwise idle machine:

  python benchmarks/transformer_vs_torch.py [--threads 2] [--steps 30] [--src_len 24]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, no install


def timed(fn, n: int, warmup: int = 3) -> float:
  """Seconds per call of `fn` (which must block until done), after `warmup` calls."""
  for _ in range(warmup):
    fn()
  t0 = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t0) / n


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--src_len", type=int, default=24)
  p.add_argument("--tgt_len", type=int, default=24)
  p.add_argument("--sentences", type=int, default=20, help="greedy decodes, batch 1")
  args = p.parse_args()

  import torch

  from seq2seq_jax import decoding
  from seq2seq_jax.interop import torch_models
  from seq2seq_jax.models.transformer import Transformer, TransformerConfig

  torch.set_num_threads(args.threads)
  cfg = TransformerConfig(src_vocab_size=9597, tgt_vocab_size=7704)
  b, s, t = args.batch, args.src_len, args.tgt_len
  rng = np.random.default_rng(0)
  src = rng.integers(4, 9597, (b, s)).astype(np.int32)
  tgt = rng.integers(4, 7704, (b, t + 1)).astype(np.int32)

  # JAX: jit(value_and_grad + clip + adam), state donated, as in train.py.
  model = Transformer(cfg)
  params = model.init(jax.random.PRNGKey(0), src[:1], np.array([s]), tgt[:1, :-1])
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(5e-4))
  opt_state = tx.init(params)

  def loss_fn(params, rng):
    logits, _ = model.apply(params, src, jnp.full((b,), s), tgt[:, :-1], True,
                            rngs={"dropout": rng})
    return optax.softmax_cross_entropy_with_integer_labels(logits, tgt[:, 1:]).mean()

  @jax.jit
  def step(params, opt_state, rng):
    loss, grads = jax.value_and_grad(loss_fn)(params, rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  state = [params, opt_state]

  def jax_step():
    state[0], state[1], loss = step(state[0], state[1], jax.random.PRNGKey(1))
    loss.block_until_ready()

  # PyTorch: the tutorial's train loop body.
  tm = torch_models.build_transformer(cfg, src_pad_idx=1, trg_pad_idx=1)
  opt = torch.optim.Adam(tm.parameters(), lr=5e-4)
  crit = torch.nn.CrossEntropyLoss(ignore_index=1)
  tsrc, ttgt = torch.from_numpy(src).long(), torch.from_numpy(tgt).long()
  tm.train()

  def torch_step():
    opt.zero_grad()
    out, _ = tm(tsrc, ttgt[:, :-1])
    loss = crit(out.reshape(-1, out.shape[-1]), ttgt[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
    opt.step()

  jax_train = timed(jax_step, args.steps)
  torch_train = timed(torch_step, args.steps)

  # Greedy decoding of one sentence at a time, a fixed 30 steps (no early <eos>).
  n = args.sentences
  params = state[0]

  def jax_greedy():
    out = decoding.greedy_search(model, params, jnp.asarray(src[:1]), jnp.array([s]), max_len=30,
                                 bos_id=2, eos_id=-1)
    out["tokens"].block_until_ready()

  def torch_greedy():
    torch_models.translate_sentence(tm, src[0].tolist(), bos_id=2, eos_id=-1, max_len=30)

  jax_dec = timed(jax_greedy, n)
  torch_dec = timed(torch_greedy, n)

  print(f"device: {jax.devices()[0].device_kind}, torch threads: {args.threads}, "
        f"batch {b}, src/tgt len {s}/{t}")
  print(f"{'':24s}{'JAX':>12s}{'PyTorch':>12s}{'JAX speed-up':>14s}")
  print(f"{'train steps/s':24s}{1 / jax_train:12.2f}{1 / torch_train:12.2f}"
        f"{torch_train / jax_train:13.2f}x")
  print(f"{'greedy sentences/s':24s}{1 / jax_dec:12.2f}{1 / torch_dec:12.2f}"
        f"{torch_dec / jax_dec:13.2f}x")


if __name__ == "__main__":
  main()
