"""layers.Dropout: the hash masks keep 1 - rate of the units, look independent, and the
threefry switch draws exactly nn.Dropout's masks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import layers


def _apply(module, x, key, deterministic=False):
  return module.apply({}, x, deterministic, rngs={"dropout": key})


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_hash_dropout_keeps_one_minus_rate_and_rescales(rate):
  n = 1_000_000
  y = np.asarray(_apply(layers.Dropout(rate), jnp.ones((n,)), jax.random.PRNGKey(3)))
  kept = y != 0
  sd = np.sqrt(rate * (1 - rate) / n)
  assert abs(kept.mean() - (1 - rate)) < 5 * sd
  np.testing.assert_allclose(y[kept], 1.0 / (1.0 - rate), rtol=1e-6)


def test_hash_masks_differ_by_key_repeat_by_key_and_look_independent():
  x = jnp.ones((512, 256))
  d = layers.Dropout(0.5)
  a, b = (np.asarray(_apply(d, x, jax.random.PRNGKey(k))) != 0 for k in (0, 1))
  again = np.asarray(_apply(d, x, jax.random.PRNGKey(0))) != 0
  np.testing.assert_array_equal(a, again)
  assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01  # two keys: uncorrelated masks
  # neighbouring units (along rows and columns) are uncorrelated within one mask
  assert abs(np.corrcoef(a[:, 1:].ravel(), a[:, :-1].ravel())[0, 1]) < 0.01
  assert abs(np.corrcoef(a[1:].ravel(), a[:-1].ravel())[0, 1]) < 0.01
  # every row and column keeps about half: no stripes
  assert np.abs(a.mean(axis=1) - 0.5).max() < 5 * np.sqrt(0.25 / 256)
  assert np.abs(a.mean(axis=0) - 0.5).max() < 5 * np.sqrt(0.25 / 512)


def test_hash_bits_bytes_are_uniform():
  bits = np.asarray(layers.hash_bits(jax.random.PRNGKey(7), (1 << 18,)))
  for shift in (0, 8, 16, 24):
    counts = np.bincount((bits >> shift) & 0xFF, minlength=256)
    expected = bits.size / 256
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 350, (shift, chi2)  # 255 dof: p ~ 1e-4 at 350


def test_threefry_switch_draws_nn_dropouts_masks_and_eval_is_identity():
  x = jax.random.normal(jax.random.PRNGKey(1), (8, 16, 32))
  key = jax.random.PRNGKey(5)
  ours = _apply(layers.Dropout(0.3, rng="threefry"), x, key)
  flax_out = nn.Dropout(0.3).apply({}, x, False, rngs={"dropout": key})
  np.testing.assert_array_equal(np.asarray(ours), np.asarray(flax_out))
  for rng in ("hash", "threefry"):
    np.testing.assert_array_equal(np.asarray(_apply(layers.Dropout(0.3, rng), x, key, True)), x)
  with pytest.raises(ValueError, match="unknown dropout rng"):
    _apply(layers.Dropout(0.3, rng="philox"), x, key)
