"""Token cross-entropy over a large vocabulary with its gradient written out.

For logits x [..., V], targets y [...] and label smoothing s:

  lse  = log sum_v exp(x_v)            nll = lse - x_y
  loss = (1 - s) nll + s (lse - mean_v x_v)        (s = 0: the NLL itself)
  d loss / d x = softmax(x) - (1 - s) onehot(y) - s / V

Autodiff of `log_softmax` keeps the [..., V] log-probabilities for the backward pass and
builds the one-hot cotangent of `take_along_axis` as a scattered [..., V] array; here the
forward keeps only lse [...] and the backward is one elementwise pass over the logits
(softmax recomputed), so the output head's loss reads and writes [..., V] fewer times.
The numerics are the same formula (tests/test_xent.py: values and gradients against
autodiff of log_softmax).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _forward(logits, targets, label_smoothing):
  x = logits.astype(jnp.float32)
  lse = jax.nn.logsumexp(x, axis=-1)
  nll = lse - jnp.take_along_axis(x, targets[..., None], axis=-1)[..., 0]
  loss = nll if not label_smoothing else (1 - label_smoothing) * nll + label_smoothing * (
    lse - x.mean(axis=-1)
  )
  return loss, nll, lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def cross_entropy(logits: jax.Array, targets: jax.Array, label_smoothing: float = 0.0):
  """-> (loss [...] with label smoothing, nll [...] without) of logits [..., V] (any float
  dtype; computed in fp32) against int targets [...]."""
  loss, nll, _ = _forward(logits, targets, label_smoothing)
  return loss, nll


def _fwd(logits, targets, label_smoothing):
  loss, nll, lse = _forward(logits, targets, label_smoothing)
  return (loss, nll), (logits, targets, lse)


def _bwd(label_smoothing, residuals, cotangents):
  logits, targets, lse = residuals
  g_loss, g_nll = cotangents  # [...] each
  s = label_smoothing
  x = logits.astype(jnp.float32)
  onehot = jnp.arange(x.shape[-1]) == targets[..., None]
  g_total = (g_loss + g_nll)[..., None]  # both contain softmax - onehot parts
  g_onehot = ((1 - s) * g_loss + g_nll)[..., None]
  grad = jnp.exp(x - lse[..., None]) * g_total - jnp.where(onehot, g_onehot, 0.0)
  if s:
    grad = grad - (s / x.shape[-1]) * g_loss[..., None]
  return grad.astype(logits.dtype), None


cross_entropy.defvjp(_fwd, _bwd)
