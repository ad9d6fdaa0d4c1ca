"""Faults a long run must survive: kill -9 anywhere, Ctrl-C, a damaged checkpoint, a full disk,
a NaN loss. Each ends in one readable line and the same final result as an uninterrupted run.

The faults hit exact points through tests/faults/sitecustomize.py (test code, loaded only by
these subprocesses): a SIGKILL after a given train step, inside a checkpoint save (files
written, not yet renamed) or during the test report's decoding.
"""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from seq2seq_jax import train
from seq2seq_jax.errors import CheckpointError
from seq2seq_jax.tasks import translation
from seq2seq_jax.train.checkpoint import Checkpoints
from tests.conftest import ROOT, tiny_flags

HOOKS = Path(__file__).parent / "faults"
TINY = [
  "--config=configs/transformer.py",
  *tiny_flags(  # 10 steps an epoch: saves at 4, 8, 10, 12, ...; a step line every 3
    data__num_test=16,
    train__num_epochs=2,
    train__checkpoint_every_steps=4,
    train__log_every_steps=3,
  ),
]
TIMINGS = ("seconds", "seconds_per_epoch")  # and every *_per_second


def cli(workdir, *extra, fault=None):
  env = dict(os.environ, PYTHONPATH=f"{HOOKS}{os.pathsep}{ROOT}")
  env.pop("SEQ2SEQ_TEST_FAULT", None)
  if fault:
    env["SEQ2SEQ_TEST_FAULT"] = fault
  return subprocess.run(
    [sys.executable, "-m", "seq2seq_jax.main", *TINY, f"--workdir={workdir}", *extra],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env=env,
    timeout=600,
  )


def latest_step(workdir, which="latest"):
  with Checkpoints(workdir) as ckpts:
    return ckpts.latest_step(which)


def assert_clean(proc, status):
  assert proc.returncode == status, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def metrics(workdir):
  lines = (Path(workdir) / "metrics.jsonl").read_text().splitlines()
  drop = lambda k: k in TIMINGS or k.endswith("_per_second")
  return [{k: v for k, v in json.loads(x).items() if not drop(k)} for x in lines]


def arrays(workdir, which="latest", step=None):
  """The saved state of a checkpoint as numpy arrays (no model needed)."""
  root = Path(workdir) / "checkpoints" / which
  step = step if step is not None else max(int(p.name) for p in root.iterdir() if p.name.isdigit())
  tree = ocp.PyTreeCheckpointer().restore(root / str(step) / "state")
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def assert_same_run(a, b):
  for which in ("latest", "best"):
    for x, y in zip(arrays(a, which), arrays(b, which), strict=True):
      np.testing.assert_array_equal(x, y)
  assert metrics(a) == metrics(b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The uninterrupted run."""
  workdir = tmp_path_factory.mktemp("reference")
  assert_clean(cli(workdir), 0)
  kinds = [r.get("split") or r.get("epoch") or f"step {r['step']}" for r in metrics(workdir)]
  steps = lambda *n: [f"step {k}" for k in n]
  assert kinds == [*steps(3, 6, 9), 1, *steps(12, 15, 18), 2, "test"]
  return workdir


def test_killed_anywhere_and_resumed_equals_the_uninterrupted_run(reference, tmp_path):
  run = tmp_path / "run"
  # Ctrl-C after step 3: saves step 3 and exits 130
  proc = cli(run, fault="sigint:3")
  assert_clean(proc, 130)
  assert latest_step(run) == 3
  # kill -9 mid-epoch: after step 7 of the resumed run (its checkpoint at 4 written)
  assert cli(run, fault="step:4").returncode == -9
  assert latest_step(run) == 4
  # kill -9 in the 6th save of the next: latest 8, best 10, latest 10, 12, 16, then best 20,
  # written but not renamed: the old best (10) stays the one, restorable
  assert cli(run, fault="save:6").returncode == -9
  assert any(".orbax-checkpoint-tmp" in p.name for p in (run / "checkpoints" / "best").iterdir())
  assert latest_step(run, "best") == 10
  assert len(arrays(run, "best", 10)) == len(arrays(reference, "best"))
  # kill -9 during the test report, between its greedy and beam-2 decodes
  assert cli(run, fault="report:2").returncode == -9
  assert "split" not in metrics(run)[-1]
  # the same command once more: it finishes, as if nothing had happened
  proc = cli(run)
  assert_clean(proc, 0)
  assert not any(".orbax-checkpoint-tmp" in p.name for p in (run / "checkpoints").rglob("*"))
  assert_same_run(reference, run)


def damage_largest_file(step_dir: Path) -> None:
  """4 KiB of (seeded) random bytes written into the checkpoint's largest file."""
  largest = max((f for f in step_dir.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
  with open(largest, "r+b") as f:
    f.seek(min(100, largest.stat().st_size // 2))
    f.write(np.random.default_rng(0).bytes(4096))


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(reference, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  assert sorted(int(p.name) for p in (run / "checkpoints" / "latest").iterdir()) == [16, 20]
  damage_largest_file(run / "checkpoints" / "latest" / "20")
  proc = cli(run)
  assert_clean(proc, 0)
  warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
  assert len(warnings) == 1 and "latest/20 cannot be restored" in warnings[0], proc.stderr
  assert "going on from step 16" in warnings[0]
  assert_same_run(reference, run)


def test_a_nan_loss_stops_the_run_and_saves_nothing_non_finite(reference, tmp_path):
  """The guard in the loop: the CLI refuses learning_rate=nan up front and a changed rate on
  resume (config/validate.py, rundir.py), so this resumes the trained run in-process."""
  from seq2seq_jax.errors import TrainingError
  from seq2seq_jax.rundir import load_config

  run = tmp_path / "run"
  shutil.copytree(reference, run)
  good = arrays(run, "latest", 20)
  config = load_config(run)
  config.train.update(num_epochs=3, learning_rate=float("nan"))
  task = translation.build_task(config, run)
  with pytest.raises(TrainingError) as err:
    train.train_and_evaluate(task, config, run)
  # step 21 breaks the params; step 22's loss is NaN; the check at the save of step 24 sees it
  assert str(err.value).startswith(
    "loss became NaN at step 24 (last good checkpoint: step 20); nothing non-finite was saved."
  ), str(err.value)
  for which in ("latest", "best"):
    for step_dir in (run / "checkpoints" / which).iterdir():
      assert all(np.isfinite(x).all() for x in arrays(run, which, int(step_dir.name)))
  assert latest_step(run) == 20
  for x, y in zip(good, arrays(run, "latest", 20), strict=True):
    np.testing.assert_array_equal(x, y)


def test_a_diverging_run_stops_with_one_line_and_no_checkpoint(tmp_path):
  # Adam at 1e9 with no clipping: the first update throws the params far out, the loss after
  # it is no longer finite, and the first check (the step line at step 3, before it is
  # written) stops the run.
  run = tmp_path / "run"
  proc = cli(run, "--config.train.learning_rate=1e9", "--config.train.clip=0")
  assert_clean(proc, 2)
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1, proc.stderr[-3000:]
  assert re.match(
    r"error: loss became (NaN|infinite) at step 3 \(last good checkpoint: none yet\)", errors[0]
  ), errors[0]
  for which in ("latest", "best"):
    assert not any((run / "checkpoints" / which).glob("[0-9]*")), which
  assert (run / "metrics.jsonl").read_text() == ""  # no line with a non-finite loss


def test_a_failed_save_keeps_the_previous_checkpoint(tiny_config, tmp_path, monkeypatch):
  from orbax.checkpoint._src.path import atomicity

  tiny_config.train.checkpoint_every_steps = 4
  task = translation.build_task(tiny_config, tmp_path)
  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def full_disk(self):
    if self.get().name.startswith("8."):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return await finalize(self)

  monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", full_disk)
  with pytest.raises(CheckpointError) as e:
    train.train_and_evaluate(task, tiny_config, tmp_path)
  message = str(e.value)
  assert "\n" not in message
  assert "latest checkpoint at step 8" in message and "No space left on device" in message
  assert "(step 4, intact)" in message
  monkeypatch.undo()
  assert latest_step(tmp_path) == 4
  params = train.restore_params(task.model, task.init_args, tiny_config, tmp_path, "latest")
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))
