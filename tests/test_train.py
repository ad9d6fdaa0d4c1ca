"""The training loop: it learns, compiles once per bucket shape, resumes bit-exactly."""

import json
import struct
import types

import jax
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.errors import CheckpointError
from seq2seq_jax.tasks import translation
from seq2seq_jax.train.checkpoint import Checkpoints

TIMINGS = ("seconds", "seconds_per_epoch")  # and every *_per_second


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
  return json.loads(line)


def lines(workdir):
  return [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]


def untimed(records):
  """The records without their wall-clock fields."""
  drop = lambda k: k in TIMINGS or k.endswith("_per_second")
  return [{k: v for k, v in r.items() if not drop(k)} for r in records]


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


@pytest.mark.parametrize("packing", [False, True])
def test_stop_and_resume_gives_bit_identical_params(tiny_config, tmp_path, monkeypatch, packing):
  tiny_config.train.update(num_epochs=2, log_every_steps=2)
  tiny_config.data.packing = packing  # packed: 4 batches an epoch, rows shuffled per epoch
  full, part = tmp_path / "full", tmp_path / "part"
  full.mkdir()
  part.mkdir()
  task = translation.build_task(tiny_config, full)
  steps_per_epoch = task.train_data.num_batches()
  train.train_and_evaluate(task, tiny_config, full)

  stop = steps_per_epoch + 3  # mid-epoch, after an epoch boundary, one step into a log window
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
  ha, hb = lines(full), lines(part)
  steps = [r["step"] for r in ha if "epoch" not in r and "split" not in r]
  assert steps == list(range(2, 2 * steps_per_epoch + 1, 2))  # step lines every 2 steps
  # every line, step and epoch, the same resumed or not (but for wall-clock fields)
  assert untimed(ha[:-1]) == untimed(hb[:-1])
  # epoch 2's time counts the stopped process's part of it (1000 s on its fake clock) too
  assert [r for r in hb if r.get("epoch") == 2][0]["seconds"] >= 1000


def test_step_records_hold_the_schedules_rate_the_grad_norm_and_the_windows_loss(
  tiny_config, tmp_path
):
  task = translation.build_task(tiny_config, tmp_path)
  n = task.train_data.num_batches()
  tiny_config.train.update(
    num_epochs=2, log_every_steps=n, schedule="warmup_rsqrt", warmup_steps=4 * n
  )  # one step line per epoch, over that epoch's steps; lr still warming up
  train.train_and_evaluate(task, tiny_config, tmp_path)
  records = lines(tmp_path)
  keys = ["step", "lr", "grad_norm", "loss", "tokens_per_second", "steps_per_second", "real_share"]
  assert sorted(records[0]) == sorted(keys)
  step_lines = [r for r in records if "epoch" not in r and "split" not in r]
  epoch_lines = [r for r in records if "epoch" in r]
  assert [r["step"] for r in step_lines] == [n, 2 * n]
  schedule = train.make_schedule(tiny_config.train)
  lr = 3e-3  # tiny_config's
  for r, e in zip(step_lines, epoch_lines, strict=True):
    assert r["lr"] == pytest.approx(float(schedule(r["step"] - 1)), rel=1e-6)
    assert r["lr"] == pytest.approx(lr * r["step"] / (4 * n), rel=1e-6)  # the N-th update's
    assert r["loss"] == e["train_loss"]  # the window is exactly the epoch here
    assert 0.0 < r["grad_norm"] < 100.0 and r["tokens_per_second"] > r["steps_per_second"] > 0
    assert 0.0 < r["real_share"] < 1.0 and r["real_share"] == e["train_real_share"]


def test_select_by_bleu_keeps_the_highest_and_stops_on_its_patience(tiny_config, tmp_path):
  tiny_config.train.update(num_epochs=4, select_by="bleu", early_stop_patience=1)
  task = translation.build_task(tiny_config, tmp_path)
  bleus = iter([5.0, 9.0, 7.0, 8.0])  # scripted: valid loss falls each epoch, BLEU does not
  task.valid_metrics = lambda params: {"bleu": next(bleus)}
  result = train.train_and_evaluate(task, tiny_config, tmp_path)
  epochs = [r for r in lines(tmp_path) if "epoch" in r]
  assert [r["valid_bleu"] for r in epochs] == [5.0, 9.0, 7.0]  # stopped: epoch 3 no better
  assert epochs[2]["valid_loss"] < epochs[1]["valid_loss"]  # loss would have picked epoch 3
  assert result["best_epoch"] == 2
  assert Checkpoints(tmp_path).latest_step("best") == 2 * task.train_data.num_batches()


def tensorboard_scalars(logdir) -> dict[str, list[tuple[int, float]]]:
  """tag -> [(step, value)] of the event files in `logdir` (TFRecord: length, its crc,
  the Event proto, its crc), read with tensorboardX's protos."""
  from tensorboardX.proto import event_pb2

  out = {}
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data, i = path.read_bytes(), 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i : i + 8])
      event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        out.setdefault(v.tag, []).append((event.step, v.simple_value))
  return out


def test_tensorboard_gets_the_step_epoch_and_test_scalars(tiny_config, tmp_path):
  tiny_config.train.update(num_epochs=1, log_every_steps=4, tensorboard=True, select_by="bleu")
  task = translation.build_task(tiny_config, tmp_path)
  result = train.train_and_evaluate(task, tiny_config, tmp_path)
  records = lines(tmp_path)
  scalars = tensorboard_scalars(tmp_path / "tensorboard")
  steps = [r for r in records if "epoch" not in r and "split" not in r]
  assert [s for s, _ in scalars["step/loss"]] == [r["step"] for r in steps] == [4, 8]
  np.testing.assert_allclose([v for _, v in scalars["step/loss"]], [r["loss"] for r in steps])
  (epoch,) = [r for r in records if "epoch" in r]
  assert "valid_bleu" in epoch  # translation's valid_metrics, for select_by=bleu
  for key in ("train_loss", "valid_loss", "valid_bleu"):
    assert scalars[f"epoch/{key}"] == [(epoch["step"], pytest.approx(epoch[key]))]
  assert scalars["test/greedy_bleu"] == [(epoch["step"], pytest.approx(result["greedy_bleu"]))]
  # a rerun (nothing left to train) rewrites the events from the history: no duplicates
  train.train_and_evaluate(translation.build_task(tiny_config, tmp_path), tiny_config, tmp_path)
  again = tensorboard_scalars(tmp_path / "tensorboard")
  assert [s for s, _ in again["step/loss"]] == [4, 8] and len(again["test/loss"]) == 1


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
  assert [r["epoch"] for r in lines(tmp_path)] == [1]
  assert Checkpoints(tmp_path).latest_step("best") == task.train_data.num_batches()
