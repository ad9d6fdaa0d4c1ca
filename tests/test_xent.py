"""tasks/xent.cross_entropy: values and gradients equal autodiff of the log_softmax formula,
with and without label smoothing, under masks, and in bf16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.tasks import base, xent


def reference(logits, targets, s):
  logp = jax.nn.log_softmax(logits.astype(jnp.float32))
  nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  return base.smoothed(nll, logp, s), nll


@pytest.mark.parametrize("s", [0.0, 0.1])
def test_values_and_gradients_equal_autodiff_of_log_softmax(s):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  logits = 3 * jax.random.normal(k1, (3, 5, 50))
  targets = jax.random.randint(k2, (3, 5), 0, 50)
  mask = (jax.random.uniform(k3, (3, 5)) > 0.3).astype(jnp.float32)

  def objective(fn):  # both outputs used, as sequence_loss uses them
    def f(x):
      loss, nll = fn(x, targets, s)
      return (loss * mask).sum() / mask.sum() + 0.5 * (nll * mask).sum()

    return f

  np.testing.assert_allclose(xent.cross_entropy(logits, targets, s), reference(logits, targets, s), rtol=1e-6, atol=1e-6)  # fmt: skip
  got = jax.grad(objective(xent.cross_entropy))(logits)
  want = jax.grad(objective(reference))(logits)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  assert float(jnp.abs(got[mask == 0]).max()) == 0.0  # masked positions get no gradient


def test_bf16_logits_get_bf16_gradients_close_to_fp32():
  logits = jax.random.normal(jax.random.PRNGKey(1), (4, 40))
  targets = jnp.arange(4)
  f = lambda x: xent.cross_entropy(x, targets, 0.1)[0].sum()
  g16 = jax.grad(f)(logits.astype(jnp.bfloat16))
  assert g16.dtype == jnp.bfloat16
  np.testing.assert_allclose(g16.astype(jnp.float32), jax.grad(f)(logits), atol=2e-2)


def test_sequence_loss_is_unchanged_by_the_fused_cross_entropy():
  k1, k2 = jax.random.split(jax.random.PRNGKey(2))
  logits = jax.random.normal(k1, (2, 6, 30))
  targets = jax.random.randint(k2, (2, 6), 0, 30)
  lengths = jnp.array([6, 3])
  loss, sums = base.sequence_loss(logits, targets, lengths, label_smoothing=0.1)
  per_tok, nll = reference(logits, targets, 0.1)
  mask = jnp.arange(6)[None] < lengths[:, None]
  np.testing.assert_allclose(loss, (per_tok * mask).sum() / mask.sum(), rtol=1e-6)
  np.testing.assert_allclose(sums.loss, (nll * mask).sum(), rtol=1e-6)
