"""Shared by the PyTorch parity tests (import it after their importorskip("torch")): a parity
case's tolerances, JAX decodes of a padded batch of sentences, the RNN references'
initialiser checks, and `python -m` runs."""

import collections
import math
import subprocess
import sys

import jax
import numpy as np
import torch
from scipy import stats

from seq2seq_jax.interop import parity
from tests.conftest import ROOT


def assert_parity_case(case: str) -> None:
  """parity.CASES[case]'s outputs and gradients within tolerance in every mode."""
  diffs = parity.CASES[case]()
  for mode in parity.MODES:
    assert diffs[mode].outputs <= parity.OUTPUT_TOL, (mode, diffs[mode])
    assert diffs[mode].grads <= parity.GRAD_TOL, (mode, diffs[mode])


def decode_padded(search, model, variables, ids: list[list[int]], width: int, pad: int, **kw):
  """search (decoding.greedy_search / beam_search) on the sentences `ids` as one batch
  [B, width], padded with `pad` past each sentence (as a bucket does) -> its outputs."""
  src = np.full((len(ids), width), pad, np.int32)
  for row, i in enumerate(ids):
    src[row, : len(i)] = i
  lengths = np.array([len(i) for i in ids], np.int32)
  return jax.device_get(search(model, variables, src, lengths, **kw))


def run_module(module, *args):
  return subprocess.run(
    [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, timeout=600
  )


def rnn_expected_init(module: torch.nn.Module) -> dict[str, tuple[str, float]]:
  """state_dict key -> ("normal", 1) for nn.Embedding, ("uniform", 1/sqrt(fan_in)) for
  nn.Linear weights and biases, ("uniform", 1/sqrt(hidden)) for nn.RNN/GRU/LSTM."""
  out = {}
  for name, m in module.named_modules():
    prefix = f"{name}." if name else ""
    if isinstance(m, torch.nn.Embedding):
      out[f"{prefix}weight"] = ("normal", 1.0)
    elif isinstance(m, torch.nn.Linear):
      for k, _ in m.named_parameters():
        out[prefix + k] = ("uniform", 1.0 / math.sqrt(m.in_features))
    elif isinstance(m, torch.nn.RNNBase):
      for k, _ in m.named_parameters():
        out[prefix + k] = ("uniform", 1.0 / math.sqrt(m.hidden_size))
  return out


def check_init(ours: dict, theirs: dict, expected: dict) -> None:
  """Same keys; each kind's pooled values (/ scale) follow its distribution on both sides."""
  assert ours.keys() == theirs.keys() == expected.keys()
  pooled = collections.defaultdict(lambda: ([], []))
  for key, (kind, scale) in expected.items():
    if kind == "uniform":
      for values in (ours[key], theirs[key]):
        assert np.abs(values).max() <= scale, key
    pooled[kind][0].append(ours[key].ravel() / scale)
    pooled[kind][1].append(theirs[key].ravel() / scale)
  dist = {"uniform": ("uniform", (-1, 2)), "normal": ("norm", (0, 1))}
  for kind, (a, b) in pooled.items():
    a, b = np.concatenate(a), np.concatenate(b)
    assert a.size > 2000, kind
    assert stats.kstest(a, dist[kind][0], dist[kind][1]).pvalue > 1e-3, kind
    assert stats.kstest(b, dist[kind][0], dist[kind][1]).pvalue > 1e-3, kind
    assert stats.ks_2samp(a, b).pvalue > 1e-3, kind
    # The same test rejects a scale 20% off by far.
    assert stats.kstest(a / 1.2, dist[kind][0], dist[kind][1]).pvalue < 1e-6, kind
