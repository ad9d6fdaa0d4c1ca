"""Matmuls whose gradients XLA's CPU backend runs as plain [M, K] @ [K, N] matmuls.

Autodiff of y = x @ w gives the weight gradient x^T @ dy: a matmul that contracts the
leading dimension of both operands. XLA:CPU (jaxlib 0.10.2) does not hand that form to
YNNPACK: it copies dy transposed and runs an Eigen contraction that packs x from strided
memory (Eigen's packing alone was 15 % of the transformer step's CPU time; every weight
gradient, and the output head's [1536, 7704] dy, was copied). Attention's batched
matmuls fare the same. The VJPs here transpose the smaller operand themselves, behind
an optimization barrier so that XLA cannot fold the transpose back into the dot, and
no gradient dot contracts a leading dimension of its left operand: each is a (batched)
[M, K] @ [K, N], or [M, K] @ [N, K]^T, which YNNPACK runs.

Measured on the Multi30k transformer's train step, one process, paired rounds (AMD EPYC,
2 cores): weight gradients 1.19x, attention 1.05x on top (`experiments/cpu_step/`).
Forward passes are XLA's own. The values are the same matmuls up to summation order.
On other backends (GPU, TPU) the barrier would only cost a copy: there the VJPs are
autodiff's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def transposed(x: jax.Array) -> jax.Array:
  """x with its last two axes swapped, materialised on the CPU (where it pays)."""
  xt = jnp.swapaxes(x, -1, -2)
  return jax.lax.optimization_barrier(xt) if jax.default_backend() == "cpu" else xt


@jax.custom_vjp
def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
  """x [..., M, K] @ w [..., K, N] -> [..., M, N], leading dimensions batched (a Dense layer's
  [M, K] @ [K, N]; attention's probabilities times values). VJP: dx = dy w^T, one dot
  contracting both operands' last dimension; dw = (x^T) dy."""
  return x @ w


def _matmul_fwd(x, w):
  return x @ w, (x, w)


def _matmul_bwd(res, dy):
  x, w = res
  last, batch = x.ndim - 1, tuple(range(x.ndim - 2))
  dx = jax.lax.dot_general(dy, w, (((last,), (last,)), (batch, batch)))
  return dx.astype(x.dtype), (transposed(x) @ dy).astype(w.dtype)


matmul.defvjp(_matmul_fwd, _matmul_bwd)


@jax.custom_vjp
def scores(q: jax.Array, k: jax.Array) -> jax.Array:
  """Attention energies q [..., Q, d] k [..., K, d]^T -> [..., Q, K] (batched over ...)."""
  return q @ jnp.swapaxes(k, -1, -2)


def _scores_fwd(q, k):
  return q @ jnp.swapaxes(k, -1, -2), (q, k)


def _scores_bwd(res, g):
  q, k = res
  return (g @ k).astype(q.dtype), (transposed(g) @ q).astype(k.dtype)


scores.defvjp(_scores_fwd, _scores_bwd)
