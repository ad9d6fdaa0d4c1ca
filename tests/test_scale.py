"""Config switches for scale: gradient accumulation and bf16 compute equal their plain step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seq2seq_jax import train
from seq2seq_jax.tasks import translation

ACCUM = 4


def setup(config, tmp_path, **train_overrides):
  config.model.dropout = 0.0  # dropout masks differ between one batch and its micro-batches
  config.train.update(**train_overrides)
  task = translation.build_task(config, tmp_path)
  batch = next(iter(task.train_data.batches(seed=0, epoch=0)))
  return task, batch


def one_step(task, config, batch, **kw):
  state = train.create_state(task.model, task.init_args, config)
  before = jax.tree.map(np.asarray, state.params)
  train_step, _ = train.make_steps(task.loss_fn, **kw)
  state, sums, _ = train_step(state, batch)
  return before, state, jax.tree.map(np.asarray, sums)


@pytest.mark.parametrize(
  "optimizer,reduction", [("sgd", "token"), ("adam", "token"), ("sgd", "sequence")]
)
def test_accumulated_step_equals_one_full_batch_step(tiny_config, tmp_path, optimizer, reduction):
  lr = 0.1 if optimizer == "sgd" else 3e-3
  task, batch = setup(
    tiny_config, tmp_path, optimizer=optimizer, learning_rate=lr, loss_reduction=reduction
  )
  # micro-batch k takes rows k, k+4, ...: their target token counts must differ, or a
  # plain mean of micro-batch means would pass too
  tokens = batch["tgt_len"].reshape(-1, ACCUM).sum(0)
  assert len(set(tokens.tolist())) > 1, tokens

  before, full, full_sums = one_step(task, tiny_config, batch)
  _, accum, accum_sums = one_step(task, tiny_config, batch, grad_accum_steps=ACCUM)
  assert int(accum.step) == int(full.step) == 1  # one optimiser update for the whole batch
  for a, f in zip(jax.tree.leaves(accum_sums), jax.tree.leaves(full_sums), strict=True):
    np.testing.assert_allclose(a, f, rtol=1e-5)
  if optimizer == "sgd":
    for b, x, y in zip(
      jax.tree.leaves(before), jax.tree.leaves(full.params), jax.tree.leaves(accum.params)
    ):
      full_update, accum_update = np.asarray(x) - b, np.asarray(y) - b
      # 1e-5 of the leaf's largest update (only summation order differs), plus 2 ulps of
      # its largest param (the rounding of param - update itself)
      tol = 1e-5 * np.abs(full_update).max() + 2 * np.spacing(np.abs(b).max())
      np.testing.assert_allclose(accum_update, full_update, rtol=0, atol=tol)
  else:
    # Adam's moments are linear in g and g^2: 1e-5 of their largest entry. Its first update
    # lr * g / (|g| + eps) turns summation-order noise in gradients that are ~0 (e.g. the
    # attention key bias's, zero in exact arithmetic) into steps of a sizeable share of lr,
    # so the params are compared where |g| > 1e-6 (100 eps), to 1e-5 lr plus 2 ulps.
    adam = lambda s: next(
      x
      for x in jax.tree.leaves(s, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
      if isinstance(x, optax.ScaleByAdamState)
    )
    fa, aa = adam(full.opt_state), adam(accum.opt_state)
    for name in ("mu", "nu"):
      fs, as_ = jax.tree.leaves(getattr(fa, name)), jax.tree.leaves(getattr(aa, name))
      top = max(float(np.abs(x).max()) for x in fs)
      for x, y in zip(fs, as_):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=1e-5 * top)
    for b, x, y, mu in zip(
      jax.tree.leaves(before),
      jax.tree.leaves(full.params),
      jax.tree.leaves(accum.params),
      jax.tree.leaves(fa.mu),
    ):
      clear = np.abs(np.asarray(mu)) / 0.1 > 1e-6  # mu = (1 - b1) g after one step
      tol = 1e-5 * lr + 2 * np.spacing(np.abs(b).max())
      np.testing.assert_allclose(np.asarray(y)[clear], np.asarray(x)[clear], rtol=0, atol=tol)

  # The test can see a wrong weighting: the plain mean of the micro-batches' gradients
  # misses the full batch's gradient by far more than the tolerance above.
  grad = jax.jit(jax.grad(lambda p, b: task.loss_fn(p, b, jax.random.PRNGKey(0), True, 0)[0]))
  params = train.create_state(task.model, task.init_args, tiny_config).params
  g_full = grad(params, batch)
  micro = [jax.tree.map(lambda v, k=k: v[k::ACCUM], batch) for k in range(ACCUM)]
  g_naive = jax.tree.map(lambda *g: sum(g) / ACCUM, *[grad(params, m) for m in micro])
  worst = max(
    float(jnp.abs(a - b).max() / jnp.abs(a).max())
    for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_naive))
  )
  assert worst > 1e-3, worst


def test_bfloat16_step_is_close_to_float32_and_keeps_fp32_state(tiny_config, tmp_path):
  task, batch = setup(tiny_config, tmp_path, optimizer="adam")
  _, fp32, sums32 = one_step(task, tiny_config, batch)
  _, bf16, sums16 = one_step(task, tiny_config, batch, compute_dtype="bfloat16")
  loss32 = sums32.loss / sums32.weight
  loss16 = sums16.loss / sums16.weight
  # bf16 keeps 8 significand bits (~4e-3 relative per rounding); 2e-2 allows a few
  # roundings to add up through the layers
  np.testing.assert_allclose(loss16, loss32, rtol=2e-2)
  assert sums16.loss.dtype == np.float32
  for tree in (bf16.params, bf16.opt_state):
    for x in jax.tree.leaves(tree):
      if jnp.issubdtype(x.dtype, jnp.floating):
        assert x.dtype == jnp.float32, x.dtype
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(bf16.params))
  assert int(fp32.step) == int(bf16.step) == 1


def test_train_step_returns_the_gradient_norm_before_clipping(tiny_config, tmp_path):
  task, batch = setup(tiny_config, tmp_path, clip=1e-3)  # every update clipped: norm >> 1e-3
  grad = jax.grad(lambda p: task.loss_fn(p, batch, jax.random.PRNGKey(0), True, 0)[0])
  expected = float(
    optax.global_norm(grad(train.create_state(task.model, task.init_args, tiny_config).params))
  )
  assert expected > 0.1
  for accum in (1, ACCUM):
    state = train.create_state(task.model, task.init_args, tiny_config)
    train_step, _ = train.make_steps(task.loss_fn, grad_accum_steps=accum)
    _, _, grad_norm = train_step(state, batch)
    np.testing.assert_allclose(float(grad_norm), expected, rtol=1e-5)
