"""The output head and its cross entropy fused, in chunks of target positions, with the
gradient formed in the forward pass: the [tokens, V] logits never exist whole
(`train.fused_head_rows`, off by default: it saves memory, not time).

Unfused, the transformer's train step keeps the head's logits for the backward pass and
forms a second tensor of that size, their gradient. The minimised loss is a weighted sum
over positions, so its gradient is known up to the scalar cotangent as soon as the softmax
is. Each chunk of positions computes its logits [n, V], the loss terms,
dz = w (softmax - (1 - s) onehot - s / V) (`base.softmax_cross_entropy`'s VJP),
dh = dz W^T, and adds h^T dz and sum(dz) to dW and db; the backward pass only scales by the
cotangent. The FLOPs are the unfused step's (nothing is recomputed); the largest tensor is
one chunk's [n, V], plus the fp32 dW it accumulates into.

Measured on a 2-core AMD EPYC (family 25), one process, paired rounds
(`experiments/cpu_step/RESULTS.md`): on the bench's Multi30k batch (1,536 positions,
V = 7,704) the step's scratch memory 315 -> 253 MB and its time 1.04x under glibc's
default malloc, 1.004x with the malloc tunables the CLI runs with; on real Multi30k batches
1.02x and 0.985x. On a WMT-sized head (4,096 positions, H = 512, V = 32,000, tunables) the
head's scratch memory 1,057 -> 132 MB (chunks of 384) or 273 MB (1,024), at 0.87-0.90x and
0.93-0.97x its time: the chunks' dW accumulation costs more than the cache saves.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from seq2seq_jax.kernels import layouts


def num_chunks(batch: int, length: int, chunk_rows: int) -> int:
  """How many chunks of time steps give about `chunk_rows` positions each (1 .. length)."""
  return max(1, min(length, round(batch * length / max(chunk_rows, 1))))


def _chunked(x: jax.Array, k: int) -> jax.Array:
  """[B, T, ...] (T a multiple of k) -> [k, B * T/k, ...]: chunk i holds steps i*T/k ..."""
  b, t = x.shape[:2]
  x = jnp.swapaxes(x.reshape(b, k, t // k, *x.shape[2:]), 0, 1)
  return x.reshape(k, b * (t // k), *x.shape[3:])


def _unchunked(x: jax.Array, b: int) -> jax.Array:
  """_chunked's inverse: [k, B * n, ...] -> [B, k * n, ...]."""
  k, rows, rest = x.shape[0], x.shape[1], x.shape[2:]
  x = jnp.swapaxes(x.reshape(k, b, rows // b, *rest), 0, 1)
  return x.reshape(b, k * (rows // b), *rest)


def xent_terms(z: jax.Array, targets: jax.Array, s: float) -> tuple[jax.Array, ...]:
  """fp32 logits z [..., V] against integer targets [...] -> (loss, nll, correct, lse), each
  [...]: the (1 - s) nll + s (lse - mean z) that training minimises, -log p(target), 1.0
  where no class outscores the target, and the log-sum-exp its gradient reuses. The one
  forward of `base.softmax_cross_entropy` and of the fused head's chunks."""
  top = z.max(axis=-1)
  lse = top + jnp.log(jnp.exp(z - top[..., None]).sum(axis=-1))
  true = jnp.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
  nll = lse - true
  loss = (1 - s) * nll + s * (lse - z.mean(axis=-1)) if s else nll
  return loss, nll, (true >= top).astype(jnp.float32), lse


def xent_logits_grad(z, lse, targets, g_loss, g_nll, s: float) -> jax.Array:
  """The logits' gradient [..., V] (fp32) given the cotangents g_loss, g_nll [...] of
  xent_terms' loss and nll: g_soft softmax - g_true onehot - (s / V) g_loss, the softmax
  recomputed from lse. One fused pass over z, no zero-filled gradient to scatter into."""
  softmax = jnp.exp(z - lse[..., None])
  onehot = jax.lax.broadcasted_iota(jnp.int32, z.shape, z.ndim - 1) == targets[..., None]
  g_soft = (g_loss + g_nll)[..., None]
  g_true = ((1 - s) * g_loss + g_nll)[..., None]
  dz = g_soft * softmax - jnp.where(onehot, g_true, 0.0)
  return dz - (s / z.shape[-1]) * g_loss[..., None] if s else dz


def _chunk_scores(h, kernel, bias, targets, s: float):
  """One chunk: h [n, H] -> fp32 logits [n, V] and (per-position loss, nll, correct, lse)."""
  z = (h @ kernel + bias).astype(jnp.float32)
  return z, xent_terms(z, targets, s)


def _sums(loss, nll, correct, weights, mask):
  return (loss * weights).sum(), (nll * mask).sum(), (correct * mask).sum()


def _chunks_of(features, targets, weights, mask, k):
  """Pads T to a multiple of k (weight and mask 0 there) and splits every input in chunks."""
  pad = -features.shape[1] % k
  if pad:
    widths = lambda x: [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)
    features, targets, weights, mask = (
      jnp.pad(x, widths(x)) for x in (features, targets, weights, mask)
    )
  return tuple(_chunked(x, k) for x in (features, targets, weights, mask))


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7))
def _head_loss(features, kernel, bias, targets, weights, mask, s: float, k: int):
  chunks = _chunks_of(features, targets, weights, mask, k)

  def body(acc, xs):
    h, t, w, m = xs
    _, (loss, nll, correct, _) = _chunk_scores(h, kernel, bias, t, s)
    return tuple(a + b for a, b in zip(acc, _sums(loss, nll, correct, w, m))), None

  zero = jnp.zeros((), jnp.float32)
  return jax.lax.scan(body, (zero, zero, zero), chunks)[0]


def _head_loss_fwd(features, kernel, bias, targets, weights, mask, s, k):
  chunks = _chunks_of(features, targets, weights, mask, k)
  vocab = kernel.shape[-1]

  def body(acc, xs):
    h, t, w, m = xs
    z, (loss, nll, correct, lse) = _chunk_scores(h, kernel, bias, t, s)
    dz = xent_logits_grad(z, lse, t, w, jnp.zeros_like(w), s)  # the loss's, weighted by w
    dz_h = dz.astype(h.dtype)
    dh = jax.lax.dot_general(dz_h, kernel, (((1,), (1,)), ((), ())))  # dz W^T
    dw = (layouts.transposed(h) @ dz_h).astype(jnp.float32)  # h^T dz, an NN matmul
    sums = _sums(loss, nll, correct, w, m)
    acc = tuple(a + b for a, b in zip(acc, sums + (dw, dz.sum(axis=0))))
    return acc, dh.astype(features.dtype)

  zero = jnp.zeros((), jnp.float32)
  init = (zero, zero, zero, jnp.zeros(kernel.shape, jnp.float32), jnp.zeros((vocab,), jnp.float32))
  (loss, nll, correct, dw, db), dh = jax.lax.scan(body, init, chunks)
  dh = _unchunked(dh, features.shape[0])[:, : features.shape[1]]
  grads = (dh, dw.astype(kernel.dtype), db.astype(bias.dtype))
  return (loss, nll, correct), grads


def _head_loss_bwd(s, k, grads, cotangents):
  g = cotangents[0]  # nll and correct are stop_gradient'ed by head_cross_entropy
  return tuple((g * x).astype(x.dtype) for x in grads) + (None, None, None)


_head_loss.defvjp(_head_loss_fwd, _head_loss_bwd)


def head_cross_entropy(
  features: jax.Array,
  kernel: jax.Array,
  bias: jax.Array,
  targets: jax.Array,
  weights: jax.Array,
  mask: jax.Array,
  *,
  label_smoothing: float = 0.0,
  chunk_rows: int = 384,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The logits features [B,T,H] @ kernel [H,V] + bias [V], scored against integer
  targets [B,T], in chunks of time steps of about `chunk_rows` positions.

  -> (loss, nll, correct), fp32 scalars: loss = sum of weights [B,T] times the
  (label-smoothed) cross entropy, what training minimises; nll = sum of mask [B,T] times
  -log p(target), never smoothed; correct = sum of mask where no class outscores the
  target (a tie counts). Only `loss` carries a gradient (to features, kernel and bias).
  The values are `base.softmax_cross_entropy`'s on the same logits, summed per chunk.
  """
  b, t = targets.shape
  dtype = jnp.result_type(features, kernel, bias)
  features, kernel, bias = (x.astype(dtype) for x in (features, kernel, bias))
  weights, mask = weights.astype(jnp.float32), mask.astype(jnp.float32)
  k = num_chunks(b, t, chunk_rows)
  loss, nll, correct = _head_loss(
    features, kernel, bias, targets, weights, mask, float(label_smoothing), k
  )
  return loss, jax.lax.stop_gradient(nll), jax.lax.stop_gradient(correct)
