"""tasks/base.py's token cross entropy: its custom VJP equals autodiff of log_softmax's
(label smoothing, both reductions, bf16 logits, padding), and `correct` is argmax's count
but for ties, which it counts as correct."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.tasks.base import sequence_loss, softmax_cross_entropy


def autodiff_loss(logits, targets, lengths, label_smoothing, reduction):
  """The loss as plain autodiff sees it: log_softmax, take_along_axis, smoothing, mask."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32))
  mask = (jnp.arange(logits.shape[1])[None] < lengths[:, None]).astype(jnp.float32)
  nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  per_tok = (1 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
  count = mask.sum() if reduction == "token" else (lengths > 0).sum().astype(jnp.float32)
  return (per_tok * mask).sum() / count


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["token", "sequence"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_loss_and_gradient_equal_autodiff_of_log_softmax(label_smoothing, reduction, dtype):
  rng = np.random.default_rng(1)
  logits = jnp.asarray(3 * rng.standard_normal((4, 7, 50)), dtype)
  targets = jnp.asarray(rng.integers(0, 50, (4, 7)))
  lengths = jnp.asarray([7, 3, 0, 5])  # a padded row and an empty one
  ours = lambda z: sequence_loss(
    z, targets, lengths, label_smoothing=label_smoothing, reduction=reduction
  )[0]
  theirs = lambda z: autodiff_loss(z, targets, lengths, label_smoothing, reduction)
  (a, ga), (b, gb) = jax.value_and_grad(ours)(logits), jax.value_and_grad(theirs)(logits)
  np.testing.assert_allclose(a, b, rtol=1e-6)
  assert ga.dtype == dtype
  ga, gb = np.asarray(ga, np.float32), np.asarray(gb, np.float32)
  np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-6 * np.abs(gb).max())
  assert np.all(ga[1, 3:] == 0) and np.all(ga[2] == 0)  # padding gets no gradient


def test_nll_is_never_smoothed_and_its_own_gradient_is_softmax_minus_onehot():
  rng = np.random.default_rng(2)
  z = jnp.asarray(rng.standard_normal((3, 11)), jnp.float32)
  t = jnp.asarray([0, 5, 10])
  loss, nll, _ = softmax_cross_entropy(z, t, 0.3)
  np.testing.assert_allclose(nll, -jax.nn.log_softmax(z)[jnp.arange(3), t], rtol=1e-6)
  assert np.all(np.asarray(loss) != np.asarray(nll))
  g = jax.grad(lambda z: softmax_cross_entropy(z, t, 0.3)[1].sum())(z)
  np.testing.assert_allclose(g, jax.nn.softmax(z) - jax.nn.one_hot(t, 11), atol=1e-6)


def test_correct_counts_targets_no_class_outscores():
  z = jnp.asarray([[0.0, 2.0, 1.0], [3.0, 3.0, 1.0], [1.0, 0.0, 1.0], [0.5, 0.1, 0.2]])
  t = jnp.asarray([1, 1, 2, 2])
  correct = np.asarray(softmax_cross_entropy(z, t)[2])
  # argmax would say [1, 0, 0, 0]: rows 1 and 2 tie with an earlier class
  np.testing.assert_array_equal(correct, [1.0, 1.0, 1.0, 0.0])
  _, sums = sequence_loss(z[None], t[None], jnp.asarray([3]))
  assert float(sums.counts["correct"]) == 3.0  # the fourth position is padding
