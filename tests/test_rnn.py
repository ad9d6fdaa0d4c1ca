"""Recurrent layers: the SRN hand values (sequence and multi-layer forms; the one-step
cell and parity with torch.nn are in test_parity_rnn_layers.py), and padding equivalence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models.rnn import RNN

INPUTS = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]], np.float32)  # 3 steps, 2 features
HAND = {
  "identity": [4.0, 12.0, 32.0],
  "tanh": [1.9280551601516338, 1.9984510891336251, 1.9999753470497836],
}


def all_ones(params):
  """Every weight 1, every bias 0 (the homework's SRN)."""
  return jax.tree_util.tree_map_with_path(
    lambda path, x: jnp.zeros_like(x) if "bias" in jax.tree_util.keystr(path) else jnp.ones_like(x),
    params,
  )


def readout(h):
  """The toy's output layer: a Linear with all-ones weights over 2 hidden -> 2 outputs."""
  return np.asarray(h) @ np.ones((2, 2), np.float32)


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_srn_sequence_layer_reproduces_the_hand_values(activation):
  rnn = RNN("srn", hidden=2, activation=activation)
  x, mask = jnp.asarray(INPUTS[None]), jnp.ones((1, 3), bool)
  params = all_ones(rnn.init(jax.random.PRNGKey(0), x, mask))
  y, finals = rnn.apply(params, x, mask)
  np.testing.assert_allclose(
    readout(y[0]), np.repeat(np.array(HAND[activation])[:, None], 2, 1), rtol=1e-6
  )
  np.testing.assert_allclose(np.asarray(finals[0][0]), np.asarray(y[0, -1]))


def test_multi_layer_srn_feeds_each_layer_the_one_below():
  rnn = RNN("srn", hidden=2, num_layers=2, activation="tanh")
  x, mask = jnp.asarray(INPUTS[None]), jnp.ones((1, 3), bool)
  params = all_ones(rnn.init(jax.random.PRNGKey(0), x, mask))
  y, _ = rnn.apply(params, x, mask)
  h1, h2, expected = np.zeros(2), np.zeros(2), []
  for xt in INPUTS:
    h1 = np.tanh(np.ones((2, 2)) @ xt + np.ones((2, 2)) @ h1)
    h2 = np.tanh(np.ones((2, 2)) @ h1 + np.ones((2, 2)) @ h2)
    expected.append(h2)
  np.testing.assert_allclose(np.asarray(y[0]), np.stack(expected), rtol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_padded_batch_gives_exactly_each_examples_own_result(kind):
  rnn = RNN(kind, hidden=6, num_layers=2, bidirectional=True)
  lengths = np.array([7, 4, 1])
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 5))
  x = jnp.where(jnp.arange(7)[None, :, None] < lengths[:, None, None], x, 99.0)  # junk padding
  mask = jnp.arange(7)[None] < lengths[:, None]
  params = rnn.init(jax.random.PRNGKey(0), x, mask)
  apply = jax.jit(rnn.apply)
  y, finals = apply(params, x, mask)
  for b, n in enumerate(lengths):
    y1, finals1 = apply(params, x[b : b + 1, :n], jnp.ones((1, n), bool))
    np.testing.assert_allclose(np.asarray(y[b, :n]), np.asarray(y1[0]), atol=1e-6)
    assert (np.asarray(y[b, n:]) == 0).all()  # no output on padding
    for f, f1 in zip(jax.tree.leaves(finals), jax.tree.leaves(finals1)):
      np.testing.assert_allclose(np.asarray(f[b]), np.asarray(f1[0]), atol=1e-6)
