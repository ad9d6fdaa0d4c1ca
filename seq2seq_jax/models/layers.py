"""Small shared pieces: PyTorch-matching initialisers and dense layers."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from seq2seq_jax.kernels import layouts


def torch_uniform(fan_in: int):
  """PyTorch's default bias (and RNN weight) init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def torch_linear_kernel(fan_in: int):
  """PyTorch nn.Linear's default weight init (kaiming_uniform a=sqrt(5)) == U(+-1/sqrt(fan_in))."""
  return torch_uniform(fan_in)


class Dense(nn.Dense):
  """nn.Dense (same parameters, same values) whose gradients run as plain matmuls on a CPU:
  inputs [..., K] flattened to [M, K] @ kernel [K, N] through `kernels.layouts.matmul`."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    kernel = self.param(
      "kernel", self.kernel_init, (jnp.shape(inputs)[-1], self.features), self.param_dtype
    )
    bias = (
      self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      if self.use_bias
      else None
    )
    inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    y = layouts.matmul(inputs.reshape(-1, inputs.shape[-1]), kernel)
    y = y.reshape(*inputs.shape[:-1], self.features)
    return y if bias is None else y + bias


def dense(
  features: int,
  in_features: int,
  *,
  xavier: bool = False,
  name: str | None = None,
  use_bias: bool = True,
) -> Dense:
  """A Dense initialised like torch.nn.Linear(in_features, features).

  xavier=True replaces the weight init by xavier_uniform (what the transformer
  tutorial applies to every matrix); the bias keeps PyTorch's U(+-1/sqrt(in)).
  """
  kernel_init = nn.initializers.xavier_uniform() if xavier else torch_linear_kernel(in_features)
  return Dense(
    features,
    use_bias=use_bias,
    kernel_init=kernel_init,
    bias_init=torch_uniform(in_features),
    name=name,
  )


def _mix32(x: jax.Array) -> jax.Array:
  """A bijective 32-bit integer hash (Wellons' "lowbias32"): shift-xor / multiply rounds."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def hash_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """uint32 random bits of `shape` from a counter hash seeded by `key`.

  bits[i] = mix(mix(i ^ s0) + s1) over the flat index i, with (s0, s1) drawn from the key.
  It is elementwise, so XLA fuses it into its consumer: on a CPU it costs a few
  integer ops per element where jax.random's threefry costs ~20 ns (the transformer's
  dropout masks took 40 % of its train step). Not for cryptography or statistics: for
  dropout masks, whose only need is independent-looking, evenly spread bits.
  """
  s = jax.random.bits(key, (2,), jnp.uint32)
  count = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
  return _mix32(_mix32(count ^ s[0]) + s[1])


class Dropout(nn.Module):
  """Inverted dropout, like nn.Dropout, with the choice of mask generator.

  rng="hash": masks from `hash_bits` (fast on CPU); "threefry": nn.Dropout's own
  (jax.random.bernoulli). The keep probability is 1 - rate up to 2^-32 either way.
  """

  rate: float
  rng: str = "hash"

  @nn.compact
  def __call__(self, x, deterministic: bool):
    if self.rng not in ("hash", "threefry"):
      raise ValueError(f"unknown dropout rng {self.rng!r}; use hash or threefry.")
    if deterministic or self.rate == 0.0:
      return x
    if self.rate >= 1.0:
      return jnp.zeros_like(x)
    key = self.make_rng("dropout")
    if self.rng == "threefry":  # nn.Dropout's draw: same key, same mask
      keep = jax.random.bernoulli(key, 1.0 - self.rate, x.shape)
    else:
      threshold = jnp.uint32(min(round(self.rate * 2.0**32), 2**32 - 1))
      keep = hash_bits(key, x.shape) >= threshold
      return jnp.where(keep, x * (1.0 / (1.0 - self.rate)), jnp.zeros_like(x)).astype(x.dtype)
    return jax.lax.select(keep, x / (1.0 - self.rate), jnp.zeros_like(x))
