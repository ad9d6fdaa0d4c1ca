"""Checkpoint averaging: the leaf-wise mean, the epochs a run keeps (train.keep_checkpoints),
--mode=average and decoding the `averaged` checkpoint (decode.checkpoint=averaged)."""

import json
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from sacrebleu.metrics import BLEU

from seq2seq_jax.train.average import mean_params
from tests.conftest import TINY_FLAGS, assert_user_error, cli, tiny_flags

CONFIG = "--config=configs/transformer.py"
# the tiny run's decode.* flags: a --config at evaluate replaces the saved decode block
DECODE = [f"--config.{k}={v}" for k, v in TINY_FLAGS.items() if k.startswith("decode.")]


def test_mean_params_is_the_leaf_wise_mean_in_each_leafs_dtype():
  a = {"w": np.array([1.0, 2.0], np.float32), "b": {"c": np.array([[0.5]], np.float32)}}
  b = {"w": np.array([3.0, 5.0], np.float32), "b": {"c": np.array([[1.5]], np.float32)}}
  mean = mean_params([a, b])
  np.testing.assert_array_equal(mean["w"], [2.0, 3.5])
  np.testing.assert_array_equal(mean["b"]["c"], [[1.0]])
  assert mean["w"].dtype == np.float32
  third = {"w": np.array([2.0, 2.0], np.float32), "b": {"c": np.array([[4.0]], np.float32)}}
  np.testing.assert_array_equal(mean_params(iter([a, b, third]))["b"]["c"], [[2.0]])
  with pytest.raises(ValueError):
    mean_params([])


def saved(workdir, which, step):
  """The saved tree of a checkpoint (params, or a train state), read without a model."""
  return ocp.PyTreeCheckpointer().restore(workdir / "checkpoints" / which / str(step) / "state")


def result_line(proc) -> dict:
  line = next(x for x in proc.stderr.splitlines() if x.startswith("result: "))
  return json.loads(line[len("result: ") :])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("averaged_run")
  flags = tiny_flags(train__num_epochs=3, train__keep_checkpoints=2, decode__num_samples=0)
  proc = cli(CONFIG, f"--workdir={workdir}", *flags)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_training_keeps_the_last_epochs_and_reports_their_average(run):
  steps = sorted(int(p.name) for p in (run / "checkpoints" / "epochs").iterdir())
  assert steps == [20, 30]  # 10 steps an epoch; the last 2 of 3 epochs
  assert [p.name for p in (run / "checkpoints" / "averaged").iterdir()] == ["30"]
  epochs = [saved(run, "epochs", s) for s in steps]
  averaged = saved(run, "averaged", 30)
  assert jax.tree.structure(averaged) == jax.tree.structure(epochs[0])
  for avg, x, y in zip(*(jax.tree.leaves(t) for t in (averaged, *epochs)), strict=True):
    np.testing.assert_allclose(avg, (np.float64(x) + y) / 2, rtol=1e-6)
  # the last epoch's params are the latest state's
  latest = saved(run, "latest", 30)["params"]
  for x, y in zip(jax.tree.leaves(epochs[1]), jax.tree.leaves(latest), strict=True):
    np.testing.assert_array_equal(x, y)
  test = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
  assert test["split"] == "test" and test["averaged_epochs"] == [2, 3]
  assert {"loss", "greedy_bleu", "averaged_loss", "averaged_greedy_bleu"} <= set(test)
  # each model's hypotheses in its own file, the one its BLEU was scored on
  refs = (run / "ref_test.txt").read_text().splitlines()
  for prefix, search in (("", "greedy"), ("averaged_", "greedy"), ("averaged_", "beam2")):
    hyps = (run / f"hyp_test_{prefix}{search}.txt").read_text().splitlines()
    bleu = BLEU(tokenize="none").corpus_score(hyps, [refs]).score
    assert bleu == pytest.approx(test[f"{prefix}{search}_bleu"])


def test_mode_average_and_evaluate_the_averaged_checkpoint(run, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(run, copy)
  shutil.rmtree(copy / "checkpoints" / "averaged")
  proc = cli("--mode=average", f"--workdir={copy}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert result_line(proc)["averaged_epochs"] == [2, 3]
  for x, y in zip(
    jax.tree.leaves(saved(copy, "averaged", 30)), jax.tree.leaves(saved(run, "averaged", 30))
  ):
    np.testing.assert_array_equal(x, y)  # --mode=average writes what training wrote

  test = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
  proc = cli(
    "--mode=evaluate", f"--workdir={copy}", CONFIG, *DECODE, "--config.decode.checkpoint=averaged"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = result_line(proc)
  assert out["loss"] == pytest.approx(test["averaged_loss"], rel=1e-6)
  assert out["greedy_bleu"] == pytest.approx(test["averaged_greedy_bleu"])


def test_missing_epochs_or_averaged_checkpoint_is_a_clear_error(run, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(run, copy)
  for which in ("epochs", "averaged"):
    shutil.rmtree(copy / "checkpoints" / which)
  proc = cli(
    "--mode=evaluate", f"--workdir={copy}", CONFIG, *DECODE, "--config.decode.checkpoint=averaged"
  )
  assert_user_error(proc, "no averaged checkpoint", "--mode=average")
  assert_user_error(cli("--mode=average", f"--workdir={copy}"), "train.keep_checkpoints")
