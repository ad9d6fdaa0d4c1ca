"""RNN encoder-decoders: decode steps match teacher forcing, padding changes nothing,
attention is masked, teacher-forcing coins behave, and the shared searches serve them."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import decoding
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models.attention import make_attention
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig

BOS, EOS = 0, 1
SRC = jnp.array([[2, 5, 7, 9, 3, 1], [3, 4, 1, 0, 0, 0], [6, 1, 0, 0, 0, 0]], jnp.int32)
SRC_LEN = jnp.array([6, 3, 2])
TGT = jnp.array([[0, 4, 5, 6, 7], [0, 7, 8, 2, 1], [0, 3, 1, 1, 1]], jnp.int32)

VARIANTS = {
  "tutorial": dict(attention="fixed", max_length=6),
  "plain": dict(attention="none", dropout=0.0),
  "bahdanau": dict(attention="additive", bidirectional=True, bridge="tanh"),
  "luong_dot_lstm": dict(attention="dot", cell="lstm"),
  "scaled_dot": dict(attention="scaled_dot"),
  "luong_general_2x2": dict(
    attention="general", bidirectional=True, enc_layers=2, dec_layers=2, bridge="zeros"
  ),
}


def model_and_params(dropout=0.1, **kw):
  cfg = RNNSeq2SeqConfig(11, 13, embed=8, hidden=16, dropout=dropout, **kw)
  model = RNNSeq2Seq(cfg)
  return model, model.init(jax.random.PRNGKey(0), SRC, SRC_LEN, TGT)


@pytest.mark.parametrize("name", VARIANTS)
def test_decode_steps_reproduce_teacher_forced_logits(name):
  model, params = model_and_params(**VARIANTS[name])
  logits, attn = jax.jit(model.apply)(params, SRC, SRC_LEN, TGT)
  cache = model.apply(params, SRC, SRC_LEN, 8, method="start_decode")
  decode_step = jax.jit(functools.partial(model.apply, method="decode_step"))
  for t in range(TGT.shape[1]):
    step_logits, cache, step_attn = decode_step(params, cache, TGT[:, t], t)
    np.testing.assert_allclose(np.asarray(step_logits), np.asarray(logits[:, t]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(step_attn), np.asarray(attn[:, t]), atol=1e-6)


@pytest.mark.parametrize("name", ["tutorial", "luong_general_2x2"])
def test_padded_batch_gives_each_examples_own_logits_and_masked_attention(name):
  model, params = model_and_params(**VARIANTS[name])
  apply = jax.jit(model.apply)
  logits, attn = apply(params, SRC, SRC_LEN, TGT)
  for b, n in enumerate(np.asarray(SRC_LEN)):
    alone, alone_attn = apply(params, SRC[b : b + 1, :n], SRC_LEN[b : b + 1], TGT[b : b + 1])
    np.testing.assert_allclose(np.asarray(logits[b]), np.asarray(alone[0]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(attn[b, :, :n]), np.asarray(alone_attn[0]), atol=1e-6)
    assert (np.asarray(attn[b, :, n:]) == 0).all()
    np.testing.assert_allclose(np.asarray(attn[b].sum(-1)), 1.0, rtol=1e-5)


def test_teacher_forcing_coins():
  kw = dict(attention="fixed", max_length=6, dropout=0.0)
  model, params = model_and_params(**kw)
  rngs = {"dropout": jax.random.PRNGKey(3)}
  forced, _ = model.apply(params, SRC, SRC_LEN, TGT)
  # p = 0 feeds the model its own argmax: the greedy search's logits.
  free_model = RNNSeq2Seq(RNNSeq2SeqConfig(11, 13, embed=8, hidden=16, teacher_forcing=0.0, **kw))
  free, _ = free_model.apply(params, SRC, SRC_LEN, TGT, True, rngs=rngs)
  cache = model.apply(params, SRC, SRC_LEN, 8, method="start_decode")
  decode_step = jax.jit(functools.partial(model.apply, method="decode_step"))
  tokens = TGT[:, 0]
  for t in range(TGT.shape[1]):
    step_logits, cache, _ = decode_step(params, cache, tokens, t)
    np.testing.assert_allclose(np.asarray(free[:, t]), np.asarray(step_logits), atol=1e-5)
    tokens = jnp.argmax(step_logits, -1)
  # One coin per sequence: each row is wholly teacher-forced or wholly free-running.
  rows = {"forced": 0, "free": 0}
  mixed_model = RNNSeq2Seq(
    RNNSeq2SeqConfig(11, 13, embed=8, hidden=16, teacher_forcing=0.5, coin="sequence", **kw)
  )
  mixed_apply = jax.jit(
    lambda rng: mixed_model.apply(params, SRC, SRC_LEN, TGT, True, rngs={"dropout": rng})[0]
  )
  for seed in range(6):
    mixed = mixed_apply(jax.random.PRNGKey(seed))
    for b in range(3):
      is_forced = np.allclose(mixed[b], forced[b], atol=1e-5)
      is_free = np.allclose(mixed[b], free[b], atol=1e-5)
      assert is_forced or is_free
      rows["forced" if is_forced else "free"] += 1
  assert rows["forced"] and rows["free"]


def test_scheduled_sampling_decays_towards_the_floor():
  make = lambda schedule: RNNSeq2Seq(
    RNNSeq2SeqConfig(11, 13, teacher_forcing=0.25, schedule=schedule, schedule_steps=100.0)
  )
  p = lambda schedule, step: float(make(schedule).teacher_forcing_prob(jnp.float32(step)))
  assert p("constant", 1000) == 0.25
  assert p("linear", 0) == 1.0 and p("linear", 50) == 0.5 and p("linear", 1000) == 0.25
  assert p("inverse_sigmoid", 0) == pytest.approx(100 / 101)
  assert p("inverse_sigmoid", 400) == pytest.approx(100 / (100 + np.exp(4)))
  assert p("inverse_sigmoid", 1e6) == 0.25


@pytest.mark.parametrize("name", ["tutorial", "bahdanau"])
def test_beam_search_scores_are_the_models_teacher_forced_scores(name):
  """Beam hypotheses (cache rows gathered across beams) rescored by __call__."""
  model, params = model_and_params(**VARIANTS[name])
  k, max_len = 3, 7
  out = decoding.beam_search(
    model, params, SRC, SRC_LEN, beam_size=k, max_len=max_len, bos_id=BOS, eos_id=EOS
  )
  tokens = np.asarray(out["tokens"]).reshape(-1, max_len)  # [B*K, L]
  tgt_in = np.concatenate([np.full((len(tokens), 1), BOS), tokens[:, :-1]], axis=1)
  logits, _ = model.apply(params, jnp.repeat(SRC, k, 0), jnp.repeat(SRC_LEN, k, 0), tgt_in)
  logp = np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), tokens[..., None], -1)[..., 0]
  lengths = np.asarray(out["lengths"]).reshape(-1)
  rescored = np.where(np.arange(max_len)[None] < lengths[:, None], logp, 0.0).sum(-1)
  np.testing.assert_allclose(rescored, np.asarray(out["logprob"]).reshape(-1), atol=1e-4)


def test_fixed_length_attention_refuses_longer_sources():
  att = make_attention("fixed", query_features=4, memory_features=3, max_length=5)
  memory, mask = jnp.ones((1, 6, 3)), jnp.ones((1, 6), bool)
  with pytest.raises(ConfigError, match="max_length"):
    att.init(jax.random.PRNGKey(0), jnp.ones((1, 4)), memory, None, mask)


def test_scaled_dot_attention_is_dot_attention_of_the_query_over_sqrt_m():
  kq, km = jax.random.split(jax.random.PRNGKey(1))
  query, memory = jax.random.normal(kq, (2, 8)), 3.0 * jax.random.normal(km, (2, 5, 8))
  mask = jnp.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)

  def run(kind, q):
    att = make_attention(kind, query_features=8, memory_features=8, max_length=0)
    variables = att.init(jax.random.PRNGKey(0), q, memory, memory, mask)
    return att.apply(variables, q, memory, memory, mask)

  context, weights = run("scaled_dot", query)
  want_context, want_weights = run("dot", query / np.sqrt(8.0))
  np.testing.assert_allclose(np.asarray(weights), np.asarray(want_weights), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(context), np.asarray(want_context), rtol=1e-5)
  assert not np.allclose(np.asarray(weights), np.asarray(run("dot", query)[1]), atol=1e-3)
  assert (np.asarray(weights)[1, 3:] == 0).all()


def test_unknown_choices_are_config_errors():
  with pytest.raises(ConfigError, match="model.attention"):
    RNNSeq2SeqConfig(3, 3, attention="luong").validate()
  with pytest.raises(ConfigError, match="dot attention"):
    model_and_params(attention="dot", bidirectional=True)


def test_loss_reductions_token_mean_and_per_sequence_sum():
  from seq2seq_jax.tasks import translation

  model, params = model_and_params(**VARIANTS["plain"])
  tgt_len = jnp.array([5, 2, 0])  # the last row is batch padding
  batch = dict(src=SRC, src_len=SRC_LEN, tgt_in=TGT, tgt_out=jnp.roll(TGT, -1, 1), tgt_len=tgt_len)
  logits, _ = model.apply(params, SRC, SRC_LEN, TGT)
  nll = -np.take_along_axis(
    np.asarray(jax.nn.log_softmax(logits)), np.asarray(batch["tgt_out"])[..., None], -1
  )[..., 0]
  total = nll[0, :5].sum() + nll[1, :2].sum()
  rng = jax.random.PRNGKey(0)
  token, _ = translation.make_loss_fn(model, 0.0, "token")(params, batch, rng, False)
  sequence, _ = translation.make_loss_fn(model, 0.0, "sequence")(params, batch, rng, False)
  np.testing.assert_allclose([float(token), float(sequence)], [total / 7, total / 2], rtol=1e-5)
