"""kernels/head_loss.py: the output head fused with its cross entropy, in chunks, gives the
unfused loss's values and gradients (smoothing, padding, chunks that do not divide the
length, bf16), never holds the [tokens, V] logits whole, and is what the transformer's loss
runs when train.fused_head_rows asks for it."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from seq2seq_jax.bench.families import batches, family
from seq2seq_jax.kernels.head_loss import head_cross_entropy, num_chunks
from seq2seq_jax.tasks import translation
from seq2seq_jax.tasks.base import head_sequence_loss, sequence_loss

B, T, H, V = 4, 7, 16, 50


def inputs(dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  h = jnp.asarray(rng.standard_normal((B, T, H)), dtype)
  kernel = jnp.asarray(0.5 * rng.standard_normal((H, V)), dtype)
  bias = jnp.asarray(0.1 * rng.standard_normal((V,)), dtype)
  targets = jnp.asarray(rng.integers(0, V, (B, T)))
  lengths = jnp.asarray([7, 3, 0, 5])  # a padded row and an empty one
  return h, kernel, bias, targets, lengths


def unfused(h, kernel, bias, targets, lengths, **kw):
  return sequence_loss(h @ kernel + bias, targets, lengths, **kw)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["token", "sequence"])
@pytest.mark.parametrize("chunk_rows", [1, 8, 12, 1000])  # 7, 4 (T padded to 8), 2, 1 chunks
def test_values_and_gradients_equal_the_unfused_loss(label_smoothing, reduction, chunk_rows):
  h, kernel, bias, targets, lengths = inputs()
  kw = dict(label_smoothing=label_smoothing, reduction=reduction)

  def fused(h, kernel, bias):
    return head_sequence_loss(h, (kernel, bias), targets, lengths, chunk_rows=chunk_rows, **kw)

  def plain(h, kernel, bias):
    return unfused(h, kernel, bias, targets, lengths, **kw)

  grad = lambda f: jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True)(h, kernel, bias)
  ((a, sa), ga), ((b, sb), gb) = grad(fused), grad(plain)
  np.testing.assert_allclose(a, b, rtol=1e-6)
  for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
    np.testing.assert_allclose(x, y, rtol=1e-6)
  for x, y in zip(ga, gb):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6 * np.abs(y).max())
  assert np.all(np.asarray(ga[0])[1, 3:] == 0) and np.all(np.asarray(ga[0])[2] == 0)


def test_bf16_inputs_give_bf16_gradients_close_to_fp32():
  h, kernel, bias, targets, lengths = inputs()
  f = lambda *p: head_sequence_loss(p[0], p[1:], targets, lengths, chunk_rows=8)[0]
  g32 = jax.grad(f, argnums=(0, 1, 2))(h, kernel, bias)
  g16 = jax.grad(f, argnums=(0, 1, 2))(*(x.astype(jnp.bfloat16) for x in (h, kernel, bias)))
  for x, y in zip(g16, g32):
    assert x.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(x, np.float32), y, atol=2e-2 * np.abs(y).max())


def test_only_the_loss_carries_a_gradient():
  """nll and correct are metrics: stop_gradient'ed, so the scaled precomputed gradient is
  the loss's alone (were they differentiable, their cotangents would be dropped)."""
  h, kernel, bias, targets, lengths = inputs()
  mask = (jnp.arange(T)[None] < lengths[:, None]).astype(jnp.float32)
  out = lambda i: lambda h: head_cross_entropy(h, kernel, bias, targets, mask, mask)[i]
  assert np.abs(np.asarray(jax.grad(out(0))(h))).max() > 0
  for i in (1, 2):
    assert np.all(np.asarray(jax.grad(out(i))(h)) == 0)


def test_the_logits_never_exist_whole():
  """The compiled gradient's scratch memory stays well under one [tokens, V] fp32 tensor,
  which the unfused loss needs at least once (the logits) beside their gradient."""
  rng = np.random.default_rng(0)
  b, t, h_dim, vocab = 8, 64, 32, 4096
  h = jnp.asarray(rng.standard_normal((b, t, h_dim)), jnp.float32)
  kernel = jnp.asarray(0.1 * rng.standard_normal((h_dim, vocab)), jnp.float32)
  bias = jnp.zeros((vocab,), jnp.float32)
  targets = jnp.asarray(rng.integers(0, vocab, (b, t)))
  lengths = jnp.full((b,), t)
  logits_bytes = b * t * vocab * 4

  def temp(loss):
    f = jax.jit(jax.grad(lambda *p: loss(*p, targets, lengths)[0], argnums=(0, 1, 2)))
    return f.lower(h, kernel, bias).compile().memory_analysis().temp_size_in_bytes

  fused = lambda h, k, c, *a: head_sequence_loss(h, (k, c), *a, chunk_rows=32)  # 16 chunks
  assert temp(unfused) >= logits_bytes
  assert temp(fused) < logits_bytes / 4


def test_chunks_cover_the_length():
  assert num_chunks(64, 24, 384) == 4
  assert num_chunks(1, 5, 384) == 1
  assert num_chunks(64, 3, 1) == 3  # at most one chunk per time step
  assert num_chunks(2, 10, 0) == 10


def test_head_rows_is_the_configs_but_off_under_onednn():
  train = lambda **kw: ml_collections.ConfigDict(dict(dict(fused_head_rows=96, matmul="xla"), **kw))
  assert translation.head_rows(train()) == 96
  assert translation.head_rows(train(fused_head_rows=0)) == 0
  assert translation.head_rows(train(matmul="onednn")) == 0  # its bf16 head is a Dense call
  assert translation.head_rows(ml_collections.ConfigDict({"matmul": "xla"})) == 0  # older runs


@pytest.mark.parametrize("reduction", ["token", "sequence"])
def test_the_transformer_loss_fn_fused_equals_unfused(reduction):
  """make_loss_fn(head_rows>0): the model's features and its head fused; same loss, sums and
  gradients as the logits path, with dropout on (the same masks) and a padded batch."""
  fam = family("transformer", True)
  b = batches("transformer", fam, 4, 6, 5)
  model = fam["model"]
  params = model.init(jax.random.key(0), *b["init_args"])
  batch = {k: jnp.asarray(v) for k, v in b["jax"].items()}
  batch["tgt_len"] = jnp.asarray([5, 2, 0, 4], jnp.int32)

  def run(rows):
    f = translation.make_loss_fn(model, 0.1, reduction, rows)
    return jax.value_and_grad(f, has_aux=True)(params, batch, jax.random.key(1), True)

  ((a, sa), ga), ((b_, sb), gb) = run(3), run(0)
  np.testing.assert_allclose(a, b_, rtol=1e-6)
  for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
    np.testing.assert_allclose(x, y, rtol=1e-6)
  scale = max(float(np.abs(y).max()) for y in jax.tree.leaves(gb))
  for x, y in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6 * scale)
