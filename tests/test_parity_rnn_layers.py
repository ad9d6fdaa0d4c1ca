"""models/rnn.py against torch.nn: RNNCell / GRUCell / LSTMCell and RNN / GRU / LSTM
(multi-layer, bidirectional) on padded batches; initialisers; the SRN toy values."""

import math

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from seq2seq_jax.interop import parity  # noqa: E402
from seq2seq_jax.interop.torch_import import RNN_LAYERS, export_state_dict  # noqa: E402
from seq2seq_jax.models.rnn import RNN, SRNCell  # noqa: E402
from tests.torch_helpers import assert_parity_case  # noqa: E402

torch.set_num_threads(1)  # tiny models; torch's threads would only fight XLA's


@pytest.mark.parametrize("case", [c for c in parity.CASES if c.startswith("layer:")])
def test_outputs_and_gradients_match_pytorch(case):
  """Padded batch (lengths 6, 3, 1; pads hold noise); torch packs it or steps each example."""
  assert_parity_case(case)


@pytest.mark.parametrize(
  "activation,expected", [("identity", [4.0, 12.0, 32.0]), ("tanh", [1.92806, 1.99845, 1.99998])]
)
def test_srn_toy_values(activation, expected):
  """All weights 1, no bias, 2 hidden units summed; inputs [1,1], [1,1], [2,2]."""
  x = np.array([[[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]], np.float32)
  cell = SRNCell(hidden=2, activation=activation)
  carry = cell.initial_carry(1)
  variables = cell.init(jax.random.key(0), carry, (x[:, 0], np.ones(1, bool)))
  variables = jax.tree.map(
    lambda p: np.ones_like(p) if p.ndim == 2 else np.zeros_like(p), variables
  )
  ours = []
  for t in range(3):
    carry, y = cell.apply(variables, carry, (x[:, t], np.ones(1, bool)))
    ours.append(float(y.sum()))
  np.testing.assert_allclose(ours, expected, rtol=1e-5)
  if activation == "tanh":
    ref = torch.nn.RNNCell(2, 2, bias=False)
    ref.load_state_dict(
      {
        k: torch.from_numpy(v)
        for k, v in export_state_dict(variables, RNN_LAYERS).items()
        if "weight" in k
      }
    )
    h, theirs = None, []
    with torch.no_grad():
      for t in range(3):
        h = ref(torch.from_numpy(x[:, t]), h)
        theirs.append(h.sum().item())
    np.testing.assert_allclose(theirs, expected, rtol=1e-5)


@pytest.mark.parametrize("kind", ["srn", "gru", "lstm"])
def test_initialisers_follow_pytorch(kind):
  """torch.nn.RNN/GRU/LSTM initialise every weight and bias U(+-1/sqrt(hidden))."""
  hidden = 64
  layer_cls = {"srn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
  torch.manual_seed(0)
  ref = layer_cls(8, hidden, num_layers=2, bidirectional=True, batch_first=True)
  theirs = {k: v.numpy() for k, v in ref.state_dict().items()}
  model = RNN(kind=kind, hidden=hidden, num_layers=2, bidirectional=True)
  x, mask = np.zeros((1, 3, 8), np.float32), np.ones((1, 3), bool)
  ours = export_state_dict(jax.jit(model.init)(jax.random.key(0), x, mask), RNN_LAYERS)
  assert ours.keys() == theirs.keys()
  bound = 1.0 / math.sqrt(hidden)
  pooled = []
  for group in ("weight", "bias"):
    a = np.concatenate([v.ravel() for k, v in ours.items() if k.startswith(group)]) / bound
    b = np.concatenate([v.ravel() for k, v in theirs.items() if k.startswith(group)]) / bound
    assert np.abs(a).max() <= 1.0 and np.abs(a).max() > 0.99, group
    assert stats.kstest(a, "uniform", (-1, 2)).pvalue > 1e-3, group
    assert stats.ks_2samp(a, b).pvalue > 1e-3, group
    pooled.append(a)
  pooled = np.concatenate(pooled)  # one distribution for all: the power check uses them all
  assert stats.kstest(pooled / 1.2, "uniform", (-1, 2)).pvalue < 1e-6  # rejects a bound 20% off
