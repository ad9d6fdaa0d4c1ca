"""A packed batch gives each pair exactly the logits and loss it gets alone (fp32, dropout
off), and the segment masks really keep pairs apart."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.data.packing import pack
from seq2seq_jax.models.transformer import Transformer, TransformerConfig
from seq2seq_jax.tasks.base import sequence_loss
from seq2seq_jax.tasks.translation import make_loss_fn

V_SRC, V_TGT, PAD = 23, 19, 1
LENGTH = 20


@pytest.fixture(scope="module")
def model_params():
  cfg = TransformerConfig(V_SRC, V_TGT, hid=16, enc_layers=2, dec_layers=2, heads=2, ff=32)
  model = Transformer(cfg)
  ones = np.ones((1, 4), np.int32)
  params = jax.jit(model.init)(jax.random.key(0), ones, np.array([4]), ones)
  return model, params


def examples(n=7, seed=0):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    s, t = rng.integers(2, 9, 2)
    tgt = rng.integers(2, V_TGT, t + 1).astype(np.int32)
    out.append(
      dict(src=rng.integers(2, V_SRC, s).astype(np.int32), tgt_in=tgt[:-1], tgt_out=tgt[1:])
    )
  return out


def packed_batch(exs):
  (batch,) = pack(exs, rows=3, src_length=LENGTH, tgt_length=LENGTH, pad_id=PAD)
  assert (batch["pairs"] >= 2).sum() >= 2  # rows really hold several pairs
  return batch


def packed_logits(model, params, b):
  """Logits [rows, T, V] of a packed batch (segment masks, per-segment positions)."""
  logits, _ = model.apply(
    params,
    b["src"],
    None,
    b["tgt_in"],
    segments=(b["src_segment"], b["tgt_segment"]),
    positions=(b["src_position"], b["tgt_position"]),
  )
  return np.asarray(logits)


def alone(model, params, ex):
  """Logits [T,V] and (sequence loss, Sums) of one pair in a batch of its own, unpadded."""
  src, tgt_in = ex["src"][None], ex["tgt_in"][None]
  logits, _ = model.apply(params, src, np.array([src.shape[1]]), tgt_in)
  loss = sequence_loss(
    logits, ex["tgt_out"][None], np.array([tgt_in.shape[1]]), reduction="sequence"
  )
  return np.asarray(logits[0]), loss


def segments_of(b):
  """(row, segment, src positions, tgt positions) of every pair in the packed batch."""
  for r in range(b["src"].shape[0]):
    for seg in range(1, b["pairs"][r] + 1):
      yield r, seg, b["src_segment"][r] == seg, b["tgt_segment"][r] == seg


def find(exs, b, r, s_mask, t_mask):
  src, tin = b["src"][r][s_mask], b["tgt_in"][r][t_mask]
  (ex,) = [e for e in exs if np.array_equal(e["src"], src) and np.array_equal(e["tgt_in"], tin)]
  return ex


def test_packed_pairs_get_the_logits_and_loss_they_get_alone(model_params):
  model, params = model_params
  exs = examples()
  b = packed_batch(exs)
  logits = packed_logits(model, params, b)
  seen = 0
  for r, seg, s_mask, t_mask in segments_of(b):
    ex = find(exs, b, r, s_mask, t_mask)
    want, (loss, sums) = alone(model, params, ex)
    np.testing.assert_allclose(logits[r][t_mask], want, rtol=1e-6, atol=1e-6)
    # the packed loss of this segment alone (the other tokens' targets masked out)
    one = jnp.asarray(np.where(b["tgt_segment"] == seg, 1, 0) * (np.arange(3) == r)[:, None])
    p_loss, p_sums = sequence_loss(logits, b["tgt_out"], None, segments=one, reduction="sequence")
    np.testing.assert_allclose(p_loss, loss, rtol=1e-6)
    np.testing.assert_allclose(p_sums.loss, sums.loss, rtol=1e-6)
    assert p_sums.weight == sums.weight
    seen += 1
  assert seen == len(exs)


@pytest.mark.parametrize("reduction", ["token", "sequence"])
@pytest.mark.parametrize("head_rows", [0, 5])  # 5: the head fused with the loss, in chunks
def test_packed_loss_fn_equals_the_pairs_alone(model_params, reduction, head_rows):
  """translation.make_loss_fn on a packed batch: summed NLL and tokens of all pairs alone;
  the minimised loss their token mean ("token") or their per-pair sums' mean ("sequence")."""
  model, params = model_params
  exs = examples()
  b = {k: jnp.asarray(v) for k, v in packed_batch(exs).items()}
  loss, sums = make_loss_fn(model, 0.0, reduction, head_rows)(params, b, jax.random.key(0), False)
  per_pair = [alone(model, params, ex)[1] for ex in exs]
  nll = sum(float(s.loss) for _, s in per_pair)
  tokens = sum(float(s.weight) for _, s in per_pair)
  np.testing.assert_allclose(sums.loss, nll, rtol=1e-6)
  assert float(sums.weight) == tokens
  want = nll / tokens if reduction == "token" else nll / len(exs)
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  assert float(sums.norm) == (tokens if reduction == "token" else len(exs))


def test_segment_masks_block_attention_across_pairs(model_params):
  """Changing one pair's tokens changes no other pair's logits in its row; were any of the
  three masks (encoder, decoder self, cross) dropped, they would change."""
  model, params = model_params
  exs = examples()
  b = packed_batch(exs)
  base = packed_logits(model, params, b)
  r = int(np.argmax(b["pairs"]))
  for side, keys in (("src", ("src",)), ("tgt", ("tgt_in",))):
    changed = dict(b)
    m = b[f"{side}_segment"][r] == 1  # the first pair of the row changes ...
    for k in keys:
      changed[k] = b[k].copy()
      changed[k][r][m] = (changed[k][r][m] + 1) % 7 + 2
    out = packed_logits(model, params, changed)
    rest = b["tgt_segment"][r] > 1  # ... the others do not
    np.testing.assert_array_equal(out[r][rest], base[r][rest])
    assert not np.allclose(out[r][b["tgt_segment"][r] == 1], base[r][b["tgt_segment"][r] == 1])
  # the same model without the segment masks (positions kept) mixes the pairs
  unmasked = dict(b, src_segment=(b["src_segment"] > 0) * 1, tgt_segment=(b["tgt_segment"] > 0) * 1)
  out = packed_logits(model, params, unmasked)
  rest = b["tgt_segment"][r] > 1
  assert not np.allclose(out[r][rest], base[r][rest])
