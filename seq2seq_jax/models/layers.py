"""Small shared pieces: PyTorch-matching initialisers and dense layers."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def torch_uniform(fan_in: int):
  """PyTorch's default bias (and RNN weight) init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def torch_linear_kernel(fan_in: int):
  """PyTorch nn.Linear's default weight init (kaiming_uniform a=sqrt(5)) == U(+-1/sqrt(fan_in))."""
  return torch_uniform(fan_in)


def dense(features: int, in_features: int, *, xavier: bool = False, name: str | None = None,
          use_bias: bool = True) -> nn.Dense:
  """nn.Dense initialised like torch.nn.Linear(in_features, features).

  xavier=True replaces the weight init by xavier_uniform (what the transformer
  tutorial applies to every matrix); the bias keeps PyTorch's U(+-1/sqrt(in)).
  """
  kernel_init = nn.initializers.xavier_uniform() if xavier else torch_linear_kernel(in_features)
  return nn.Dense(features, use_bias=use_bias, kernel_init=kernel_init,
                  bias_init=torch_uniform(in_features), name=name)
