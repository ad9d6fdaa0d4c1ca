"""kernels/layouts.py: its matmuls have autodiff's values and gradients, and on the CPU their
gradients compile to dots that contract the left operand's last dimension (no dot
contracting a leading one, no transposed copy of the large cotangent); the models' Dense
has nn.Dense's parameters and outputs."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.kernels import layouts
from seq2seq_jax.models.layers import Dense, dense

RNG = np.random.default_rng(0)


def rand(*shape, dtype=jnp.float32):
  return jnp.asarray(RNG.standard_normal(shape), dtype)


CASES = [
  ("matmul", layouts.matmul, lambda a, b: a @ b, ((37, 24), (24, 50))),
  (
    "scores",
    layouts.scores,
    lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k),
    ((3, 2, 5, 8), (3, 2, 7, 8)),
  ),
  (
    "batched matmul",
    layouts.matmul,
    lambda a, v: jnp.einsum("bhqk,bhkd->bhqd", a, v),
    ((3, 2, 5, 7), (3, 2, 7, 8)),
  ),
]


@pytest.mark.parametrize("name,ours,plain,shapes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_values_and_gradients_equal_autodiffs(name, ours, plain, shapes, dtype):
  a, b = rand(*shapes[0], dtype=dtype), rand(*shapes[1], dtype=dtype)
  probe = rand(*jax.eval_shape(plain, a, b).shape)  # a non-uniform cotangent
  loss = lambda f: lambda a, b: jnp.sum(f(a, b).astype(jnp.float32) * probe)
  (v1, g1), (v2, g2) = (jax.jit(jax.value_and_grad(loss(f), (0, 1)))(a, b) for f in (ours, plain))
  tol = 1e-5 if dtype == jnp.float32 else 2e-2
  np.testing.assert_allclose(v1, v2, rtol=tol)
  for x, y in zip(g1, g2, strict=True):
    assert x.dtype == y.dtype == dtype
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol * np.abs(y).max())


def _dots(f, *args) -> list[str]:
  """The dot instructions of f's compiled (CPU) program, fused ones included."""
  text = jax.jit(f).lower(*args).compile().as_text()
  return [line for line in text.splitlines() if re.search(r"= \S+ dot\(", line)]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's layouts")
def test_weight_gradient_is_a_plain_matmul_without_copying_the_cotangent():
  x, w = rand(1536, 64), rand(64, 3000)
  probe = rand(1536, 3000)
  grad = lambda mm: jax.grad(lambda x, w: jnp.sum(mm(x, w) * probe), (0, 1))
  dots = _dots(grad(layouts.matmul), x, w)
  # dw = x^T dy: x [1536, 64] is transposed (small), never dy [1536, 3000]
  assert not any("lhs_contracting_dims={0}" in d for d in dots), dots
  text = jax.jit(grad(layouts.matmul)).lower(x, w).compile().as_text()
  assert "f32[3000,1536]" not in text  # no transposed copy of the cotangent
  # ...which is what autodiff of x @ w compiles to here (so the test can fail)
  assert any("lhs_contracting_dims={0}" in d for d in _dots(grad(jnp.dot), x, w))


def _contracts_lhs_last(dot: str) -> bool:
  """Whether an HLO dot contracts its left operand's last dimension (a matmul's result has
  its operands' rank)."""
  rank = dot.split("=", 1)[1].split("]", 1)[0].count(",") + 1
  return f"lhs_contracting_dims={{{rank - 1}}}" in dot


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's layouts")
@pytest.mark.parametrize("name,ours,plain,shapes", CASES, ids=[c[0] for c in CASES])
def test_every_gradient_dot_contracts_the_left_operands_last_dimension(name, ours, plain, shapes):
  a, b = rand(*shapes[0]), rand(*shapes[1])
  out, vjp = jax.vjp(ours, a, b)
  dots = _dots(vjp, jnp.ones_like(out))
  assert len(dots) == 2 and all(_contracts_lhs_last(d) for d in dots), dots
  # autodiff's own backward has a dot that contracts a leading dimension (the test can fail)
  plain_dots = _dots(jax.vjp(plain, a, b)[1], jnp.ones_like(out))
  assert not all(_contracts_lhs_last(d) for d in plain_dots), plain_dots


def test_dense_has_nn_denses_parameters_and_outputs():
  x = rand(2, 5, 6)
  ours, theirs = dense(4, 6), nn.Dense(4)
  params = ours.init(jax.random.PRNGKey(0), x)
  assert isinstance(ours, Dense) and isinstance(ours, nn.Dense)  # train.matmul=onednn's hook
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
    jnp.shape, theirs.init(jax.random.PRNGKey(0), x)
  )
  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-6)
  g1 = jax.grad(lambda p: jnp.sum(ours.apply(p, x) ** 2))(params)
  g2 = jax.grad(lambda p: jnp.sum(theirs.apply(p, x) ** 2))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), g1, g2)
