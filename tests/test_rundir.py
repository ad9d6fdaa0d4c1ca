"""A run directory is a contract: an incompatible config is refused before anything is
written, resumable keys may change, one process trains at a time (a killed one leaves no
stale lock), and --init_from starts a new run from another run's weights."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seq2seq_jax.config.defaults import TRAIN
from seq2seq_jax.errors import ConfigError, UserError
from seq2seq_jax.rundir import (
  RESUMABLE,
  RunLock,
  atomic_files,
  changes,
  check_compatible,
  resumable,
)
from tests.conftest import ROOT, assert_user_error, cli, tiny_flags

CONFIG = "--config=configs/transformer.py"
QUICK = tiny_flags(decode__eval_beam_sizes="()", decode__num_samples=0)


def files(workdir: Path) -> dict[str, bytes]:
  return {
    str(p.relative_to(workdir)): p.read_bytes()
    for p in workdir.rglob("*")
    if p.is_file() and p.name != ".lock"
  }


def metrics(workdir: Path) -> list[dict]:
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("trained")
  proc = cli(CONFIG, f"--workdir={workdir}", *QUICK)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_resumable_keys_and_changes():
  assert resumable("train.num_epochs") and resumable("decode.beam_size")
  assert not resumable("train.learning_rate") and not resumable("model.hid")
  assert all(k.count(".") == 1 for k in RESUMABLE)
  saved = {"model": {"hid": 32, "heads": 4}, "data": {"bucket_edges": [12, 16]}}
  new = {"model": {"hid": 16, "heads": 4}, "data": {"bucket_edges": (12, 16)}, "x": 1}
  assert changes(saved, new) == [("model.hid", 32, 16), ("x", "<absent>", 1)]


def test_a_key_the_saved_config_lacks_is_no_change_at_its_default(tmp_path):
  """Runs saved before a key existed resume while the key keeps its default."""
  saved = {"train": {"num_epochs": 1}, "model": {"hid": 32}}
  new = {
    "train": {"num_epochs": 1, "keep_checkpoints": 0, "select_by": "loss"},
    "model": {"hid": 32},
  }
  assert TRAIN["keep_checkpoints"] == 0 and TRAIN["select_by"] == "loss"
  check_compatible(tmp_path, saved, new)
  new["train"]["keep_checkpoints"] = 3  # not its default: a change, and not a resumable one
  with pytest.raises(ConfigError, match=r"train\.keep_checkpoints: '<absent>' -> 3"):
    check_compatible(tmp_path, saved, new)
  new["train"]["keep_checkpoints"] = 0
  new["model"]["extra"] = 0  # only train/decode keys have code defaults
  with pytest.raises(ConfigError, match=r"model\.extra: '<absent>' -> 0"):
    check_compatible(tmp_path, saved, new)


def test_a_changed_config_is_refused_before_anything_is_written(trained):
  before = files(trained)
  proc = cli(CONFIG, f"--workdir={trained}", *QUICK, "--config.model.hid=16")
  assert_user_error(proc, "model.hid: 32 -> 16", "--init_from", "train.num_epochs")
  assert "RuntimeError" not in proc.stderr
  assert files(trained) == before  # config.json, checkpoints and metrics untouched


def test_resume_may_change_the_resumable_keys(trained, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(trained, run)
  saved = json.loads((run / "config.json").read_text())  # as a run saved before these keys
  for block, key in [
    ("train", "select_by"),
    ("train", "keep_checkpoints"),
    ("decode", "checkpoint"),
  ]:
    del saved[block][key]
  (run / "config.json").write_text(json.dumps(saved))
  proc = cli(CONFIG, f"--workdir={run}", *QUICK, "--config.train.num_epochs=2")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resuming from step 10" in proc.stderr
  assert [m.get("epoch") for m in metrics(run) if "epoch" in m] == [1, 2]
  assert json.loads((run / "config.json").read_text())["train"]["num_epochs"] == 2


def test_a_second_process_is_refused_while_the_first_holds_the_run(tmp_path):
  import os

  with RunLock(tmp_path).acquire():
    proc = cli(CONFIG, f"--workdir={tmp_path}", *QUICK)
  assert_user_error(proc, f"in use by process {os.getpid()}", "another --workdir")
  assert not (tmp_path / "config.json").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
  code = (
    "import sys, time; from pathlib import Path; from seq2seq_jax.rundir import RunLock\n"
    "lock = RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(600)"
  )
  holder = subprocess.Popen(
    [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
  )
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=f"in use by process {holder.pid}"):
      RunLock(tmp_path).acquire()
  finally:
    holder.kill()
    holder.wait()
  RunLock(tmp_path).acquire().release()  # the kernel dropped the dead holder's lock


def test_init_from_starts_from_the_runs_weights_with_a_fresh_optimiser(trained, tmp_path):
  new = tmp_path / "new"
  # SGD at a tiny rate: the new run's weights stay the trained run's, so its first valid
  # loss is the trained run's best; a fresh init would be far above it.
  proc = cli(
    CONFIG,
    f"--workdir={new}",
    *QUICK,
    f"--init_from={trained}",
    "--config.train.optimizer=sgd",
    "--config.train.learning_rate=1e-9",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  old, fresh = metrics(trained)[0], metrics(new)[0]
  assert fresh["step"] == 10  # its own step count from 0
  assert abs(fresh["valid_loss"] - old["valid_loss"]) < 1e-4, (fresh, old)
  for name in ("vocab_src.json", "vocab_tgt.json"):
    assert (new / name).read_bytes() == (trained / name).read_bytes()


def test_init_from_a_run_of_another_shape_is_refused(trained, tmp_path):
  proc = cli(
    CONFIG,
    f"--workdir={tmp_path / 'new'}",
    *QUICK,
    f"--init_from={trained}",
    "--config.model.hid=16",
  )
  assert_user_error(proc, "cannot be restored")


def test_atomic_files_write_all_or_nothing(tmp_path):
  paths = {k: tmp_path / f"plan.{k}" for k in ("ids", "offsets")}
  (tmp_path / "plan.ids").write_bytes(b"old")
  with pytest.raises(RuntimeError):
    with atomic_files(paths) as out:
      out["ids"].write(b"half")
      raise RuntimeError("interrupted")
  # the old file is untouched, no new one appeared, no temporary file is left
  assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.ids"]
  assert (tmp_path / "plan.ids").read_bytes() == b"old"
  with atomic_files(paths) as out:
    out["ids"].write(b"new")
    out["offsets"].write(b"\x00")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.ids", "plan.offsets"]
  assert (tmp_path / "plan.ids").read_bytes() == b"new"
