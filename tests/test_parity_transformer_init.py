"""The transformer's initialisers follow the PyTorch reference's distributions: the tutorial's
xavier_uniform_ matrices, torch's Linear biases and LayerNorm constants."""

import collections
import math

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from seq2seq_jax.interop import parity  # noqa: E402
from seq2seq_jax.interop import torch_models as tm  # noqa: E402
from seq2seq_jax.interop.torch_import import TRANSFORMER, export_state_dict  # noqa: E402
from seq2seq_jax.models.transformer import Transformer, TransformerConfig  # noqa: E402

torch.set_num_threads(1)  # tiny models; torch's threads would only fight XLA's

PAD = parity.PAD


def expected_init(module: torch.nn.Module) -> dict[str, tuple[str, float]]:
  """state_dict key -> ("uniform", bound) or ("constant", value), from the reference's rules:
  the tutorial's xavier_uniform_ on every matrix, torch's Linear bias U(+-1/sqrt(fan_in)),
  LayerNorm ones / zeros."""
  xavier = lambda w: math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
  out = {}
  for name, m in module.named_modules():
    if isinstance(m, torch.nn.Linear):
      out[f"{name}.weight"] = ("uniform", xavier(m.weight))
      out[f"{name}.bias"] = ("uniform", 1.0 / math.sqrt(m.in_features))
    elif isinstance(m, torch.nn.Embedding):
      out[f"{name}.weight"] = ("uniform", xavier(m.weight))
    elif isinstance(m, torch.nn.LayerNorm):
      out[f"{name}.weight"], out[f"{name}.bias"] = ("constant", 1.0), ("constant", 0.0)
  return out


def test_initialisers_follow_the_pytorch_distributions():
  cfg = TransformerConfig(
    50, 40, hid=128, enc_layers=1, dec_layers=1, heads=4, ff=256, max_len=32
  )  # one layer each: fewer ops to compile, as many samples
  torch.manual_seed(0)
  ref = tm.build_transformer(cfg, PAD, PAD)
  theirs = {k: v.numpy() for k, v in ref.state_dict().items()}
  model = Transformer(cfg)
  ones = np.ones((1, 4), np.int32)
  ours = export_state_dict(
    jax.jit(model.init)(jax.random.key(0), ones, np.array([4]), ones), TRANSFORMER
  )
  expected = expected_init(ref)
  assert ours.keys() == theirs.keys() == expected.keys()

  pooled = collections.defaultdict(lambda: ([], []))  # kind -> (ours, theirs) / bound
  for key, (kind, value) in expected.items():
    if kind == "constant":
      assert np.all(ours[key] == value) and np.all(theirs[key] == value), key
      continue
    for values in (ours[key], theirs[key]):
      assert np.abs(values).max() <= value, key  # support within the bound...
      if values.size >= 100:  # ...and reaching it
        assert np.abs(values).max() > 0.9 * value, key
      if values.size >= 2000:
        assert stats.kstest(values.ravel() / value, "uniform", (-1, 2)).pvalue > 1e-4, key
    group = "bias" if key.endswith("bias") else "matrix"
    pooled[group][0].append(ours[key].ravel() / value)
    pooled[group][1].append(theirs[key].ravel() / value)

  for group, (a, b) in pooled.items():
    a, b = np.concatenate(a), np.concatenate(b)
    assert a.size > 2000, group
    assert stats.kstest(a, "uniform", (-1, 2)).pvalue > 1e-3, group
    assert stats.kstest(b, "uniform", (-1, 2)).pvalue > 1e-3, group
    assert stats.ks_2samp(a, b).pvalue > 1e-3, group
    # The same test rejects a bound 20% off (e.g. a wrong fan) by far.
    assert stats.kstest(a / 1.2, "uniform", (-1, 2)).pvalue < 1e-6, group
