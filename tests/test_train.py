"""The training loop: it learns, compiles once per bucket shape, resumes bit-exactly."""

import types

import jax
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.errors import CheckpointError
from seq2seq_jax.tasks import translation
from seq2seq_jax.train.checkpoint import Checkpoints


def params_of(workdir, task, config, which="latest"):
  return train.restore_params(task.model, task.init_args, config, workdir, which)


def test_training_learns_and_writes_the_run(tiny_config, tmp_path):
  task = translation.build_task(tiny_config, tmp_path)
  result = train.train_and_evaluate(task, tiny_config, tmp_path)
  history = [eval_json(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  uniform = np.log(30)  # loss of a uniform guess over the 30 target tokens
  assert history[1]["train_loss"] < history[0]["train_loss"] < uniform
  assert history[1]["valid_loss"] < history[0]["valid_loss"] < uniform
  assert history[-1]["split"] == "test" and "greedy_bleu" in history[-1]
  assert 0.0 <= result["greedy_bleu"] <= 100.0 and result["beam2_bleu"] >= 0.0
  for name in ("vocab_src.json", "vocab_tgt.json", "params.txt", "loss.png", "attention_test0.png"):
    assert (tmp_path / name).exists(), name


def eval_json(line):
  import json

  return json.loads(line)


def test_train_step_compiles_at_most_once_per_bucket_shape(tiny_config, tmp_path):
  tiny_config.data.bucket_edges = (10, 12, 16)
  task = translation.build_task(tiny_config, tmp_path)
  state = train.create_state(task.model, task.init_args, tiny_config)
  train_step, eval_step = train.make_steps(task.loss_fn)
  shapes = task.train_data.shapes()
  assert len(shapes) >= 2  # the test means something only with several buckets
  for epoch in range(2):
    for batch in task.train_data.batches(seed=0, epoch=epoch):
      state, *_ = train_step(state, batch)
  assert train_step._cache_size() == len(shapes)
  for batch in task.eval_data["validation"].batches():
    eval_step(state.params, batch)
  assert eval_step._cache_size() <= len(task.eval_data["validation"].shapes())


def test_stop_and_resume_gives_bit_identical_params(tiny_config, tmp_path, monkeypatch):
  tiny_config.train.num_epochs = 2
  full, part = tmp_path / "full", tmp_path / "part"
  full.mkdir()
  part.mkdir()
  task = translation.build_task(tiny_config, full)
  steps_per_epoch = task.train_data.num_batches()
  train.train_and_evaluate(task, tiny_config, full)

  stop = steps_per_epoch + 3  # mid-epoch, after an epoch boundary
  tiny_config.train.stop_after_steps = stop
  task = translation.build_task(tiny_config, part)
  clock = iter(range(0, 10**6, 1000))  # the stopped process: every clock read 1000 s later
  with monkeypatch.context() as m:
    m.setattr(train.loop, "time", types.SimpleNamespace(time=lambda: next(clock)))
    assert train.train_and_evaluate(task, tiny_config, part) == {"stopped_at_step": stop}
  assert Checkpoints(part).latest_step() == stop
  tiny_config.train.stop_after_steps = 0
  task = translation.build_task(tiny_config, part)
  train.train_and_evaluate(task, tiny_config, part)

  a, b = params_of(full, task, tiny_config), params_of(part, task, tiny_config)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  ha = (full / "metrics.jsonl").read_text().splitlines()[:2]
  hb = (part / "metrics.jsonl").read_text().splitlines()[:2]
  strip = lambda lines: [{k: v for k, v in eval_json(x).items() if k != "seconds"} for x in lines]
  assert strip(ha) == strip(hb)  # same train/valid metrics per epoch, resumed or not
  # epoch 2's time counts the stopped process's part of it (1000 s on its fake clock) too
  assert eval_json(hb[1])["seconds"] >= 1000


def test_corrupt_checkpoint_is_a_clear_error(tiny_config, tmp_path):
  tiny_config.train.num_epochs = 1
  task = translation.build_task(tiny_config, tmp_path)
  train.train_and_evaluate(task, tiny_config, tmp_path)
  ckpt = tmp_path / "checkpoints" / "best"
  for f in ckpt.rglob("*"):
    if f.is_file() and f.stat().st_size > 0 and "state" in str(f):
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
  with pytest.raises(CheckpointError, match="corrupt or truncated"):
    params_of(tmp_path, task, tiny_config, "best")


def test_missing_checkpoint_is_a_clear_error(tiny_config, tmp_path):
  task = translation.build_task(tiny_config, tmp_path)
  with pytest.raises(CheckpointError, match="no best checkpoint"):
    params_of(tmp_path, task, tiny_config, "best")


def test_stop_on_an_epoch_boundary_still_evaluates_that_epoch(tiny_config, tmp_path):
  tiny_config.train.num_epochs = 2
  task = translation.build_task(tiny_config, tmp_path)
  tiny_config.train.stop_after_steps = task.train_data.num_batches()
  assert "stopped_at_step" in train.train_and_evaluate(task, tiny_config, tmp_path)
  records = [eval_json(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in records] == [1]
  assert Checkpoints(tmp_path).latest_step("best") == task.train_data.num_batches()
