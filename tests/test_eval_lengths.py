"""Evaluation decodes every sentence: those longer than the largest bucket edge go to one
more edge, up to the model's limit; past it, one clear DataError."""

import pytest
from conftest import load_config

from seq2seq_jax import train
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.errors import DataError
from seq2seq_jax.tasks import translation
from seq2seq_jax.train.steps import create_state


def with_long_test_pair(monkeypatch, words: int) -> tuple[list[str], list[str]]:
  """The numbers data with a test pair of `words` words per side appended."""
  load = translation.load_parallel
  pair = (["one"] * words, ["un"] * words)
  monkeypatch.setattr(
    translation,
    "load_parallel",
    lambda data: (lambda d: ParallelText(d.train, d.validation, d.test + [pair]))(load(data)),
  )
  return pair


def test_a_test_sentence_past_the_largest_edge_is_decoded_and_scored(
  tiny_config, tmp_path, monkeypatch
):
  c = tiny_config  # bucket edges (12, 16), model.max_len 32
  c.data.update(num_valid=8, num_test=8)
  c.decode.eval_beam_sizes = ()
  pair = with_long_test_pair(monkeypatch, 20)  # 22 source tokens with <sos>, <eos>
  task = translation.build_task(c, tmp_path)
  assert task.eval_data["test"].edges == (12, 16, 24)
  assert task.eval_data["validation"].edges == (12, 16)
  scored = []
  scores = translation.metrics.corpus_scores
  monkeypatch.setattr(
    translation.metrics,
    "corpus_scores",
    lambda hyps, refs, *a: scored.append((hyps, refs)) or scores(hyps, refs, *a),
  )
  params = create_state(task.model, task.init_args, c).params
  result = train.evaluate_split(task, params, "test")
  hyps, refs = scored[0]  # greedy
  assert len(hyps) == len(refs) == 9 and refs[-1] == pair[1]
  assert isinstance(hyps[-1], list) and all(isinstance(h, list) for h in hyps)
  assert "greedy_bleu" in result and "loss" in result


def test_a_sentence_past_the_models_limit_is_one_clear_error(tiny_config, tmp_path, monkeypatch):
  c = tiny_config
  c.data.update(num_valid=8, num_test=8)
  with_long_test_pair(monkeypatch, 40)  # 42 tokens > model.max_len 32
  with pytest.raises(
    DataError, match=r"^test pairs: 1 longer than the model's limit of 32 .*max_len.* number 9\)"
  ):
    translation.build_task(c, tmp_path)


def test_length_limits_of_the_translators():
  assert translation.length_limit(load_config("transformer")) == (100, "model.max_len")
  assert translation.length_limit(load_config("gru_attention")) == (10, "model.max_length")
  assert translation.length_limit(load_config("bigru_beam")) is None  # additive: no limit
