"""Recurrent layers: the SRN hand values, padding equivalence, and parity with torch.nn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models.rnn import RNN, SRNCell

INPUTS = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]], np.float32)  # 3 steps, 2 features
HAND = {"identity": [4.0, 12.0, 32.0],
        "tanh": [1.9280551601516338, 1.9984510891336251, 1.9999753470497836]}


def all_ones(params):
  """Every weight 1, every bias 0 (the homework's SRN)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if "bias" in jax.tree_util.keystr(path)
      else jnp.ones_like(x), params)


def readout(h):
  """The toy's output layer: a Linear with all-ones weights over 2 hidden -> 2 outputs."""
  return np.asarray(h) @ np.ones((2, 2), np.float32)


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_srn_one_step_cell_reproduces_the_hand_values(activation):
  cell = SRNCell(hidden=2, activation=activation)
  h = jnp.zeros((1, 2))
  params = all_ones(cell.init(jax.random.PRNGKey(0), h, jnp.asarray(INPUTS[:1]),
                              method=SRNCell.step))
  outputs = []
  for x in INPUTS:
    h, _ = cell.apply(params, h, jnp.asarray(x[None]), method=SRNCell.step)
    outputs.append(readout(h)[0])
  # Both output units give the hand value at every step.
  np.testing.assert_allclose(np.stack(outputs), np.repeat(np.array(HAND[activation])[:, None], 2,
                                                          axis=1), rtol=1e-6)


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_srn_sequence_layer_reproduces_the_hand_values(activation):
  rnn = RNN("srn", hidden=2, activation=activation)
  x, mask = jnp.asarray(INPUTS[None]), jnp.ones((1, 3), bool)
  params = all_ones(rnn.init(jax.random.PRNGKey(0), x, mask))
  y, finals = rnn.apply(params, x, mask)
  np.testing.assert_allclose(readout(y[0]), np.repeat(np.array(HAND[activation])[:, None], 2, 1),
                             rtol=1e-6)
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
    y1, finals1 = apply(params, x[b:b + 1, :n], jnp.ones((1, n), bool))
    np.testing.assert_allclose(np.asarray(y[b, :n]), np.asarray(y1[0]), atol=1e-6)
    assert (np.asarray(y[b, n:]) == 0).all()  # no output on padding
    for f, f1 in zip(jax.tree.leaves(finals), jax.tree.leaves(finals1)):
      np.testing.assert_allclose(np.asarray(f[b]), np.asarray(f1[0]), atol=1e-6)


def torch_to_flax(module, num_layers: int, bidirectional: bool) -> dict:
  """torch.nn.RNN/GRU/LSTM state_dict -> our RNN params (l{k}[_reverse] / ih, hh)."""
  sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
  params = {}
  for layer in range(num_layers):
    for suffix in ("", "_reverse")[: 1 + bidirectional]:
      params[f"l{layer}{suffix}"] = {
          gate: {"kernel": sd[f"weight_{gate}_l{layer}{suffix}"].T,
                 "bias": sd[f"bias_{gate}_l{layer}{suffix}"]} for gate in ("ih", "hh")}
  return {"params": params}


@pytest.mark.parametrize("kind", ["srn", "gru", "lstm"])
def test_matches_torch_packed_bidirectional_two_layers(kind):
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  cls = {"srn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
  ref = cls(5, 6, num_layers=2, bidirectional=True, batch_first=True)
  lengths = np.array([7, 4, 1])
  x = np.random.default_rng(0).normal(size=(3, 7, 5)).astype(np.float32)
  packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                                   batch_first=True)
  out, h_n = ref(packed)
  out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=7)
  h_n = h_n[0] if kind == "lstm" else h_n
  rnn = RNN(kind, hidden=6, num_layers=2, bidirectional=True)
  y, finals = rnn.apply(torch_to_flax(ref, 2, True), jnp.asarray(x),
                        jnp.arange(7)[None] < lengths[:, None])
  np.testing.assert_allclose(np.asarray(y), out.detach().numpy(), atol=1e-5)
  hidden = [f[0] if kind == "lstm" else f for f in finals]
  np.testing.assert_allclose(np.stack([np.asarray(h) for h in hidden]), h_n.detach().numpy(),
                             atol=1e-5)
