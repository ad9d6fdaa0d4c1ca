"""The command line end to end, and each bad input's one-line message (no traceback)."""

import json
import shutil

import pytest

from tests.conftest import assert_user_error, cli, tiny_flags

TINY = tiny_flags()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  proc = cli("--config=configs/transformer.py", f"--workdir={workdir}", *TINY)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Epoch: 01" in proc.stderr and "test greedy: BLEU" in proc.stderr
  return workdir


def test_train_writes_a_self_explaining_workdir(run_dir):
  for name in (
    "config.json",
    "vocab_src.json",
    "vocab_tgt.json",
    "params.txt",
    "metrics.jsonl",
    "loss.png",
    "attention_test0.png",
  ):
    assert (run_dir / name).exists(), name
  assert (run_dir / "checkpoints" / "best").is_dir()


def test_translate_prints_nbest_with_scores(run_dir):
  proc = cli("--mode=translate", f"--workdir={run_dir}", "twenty one", "two hundred")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0] == "> twenty one"
  ranks = [line.split(" ", 2) for line in lines[1:5]]
  assert [r[0] for r in ranks] == ["0", "1", "2", "3"]  # default beam 4, n-best 4
  scores = [float(r[1]) for r in ranks]
  assert all(s <= 0 for s in scores) and scores == sorted(scores, reverse=True)
  assert lines[5] == "> two hundred"


def test_translate_stream_skips_empty_lines_and_reports_oov(run_dir):
  proc = cli(
    "--mode=translate",
    f"--workdir={run_dir}",
    "--config=configs/transformer.py",
    "--config.decode.beam_size=2",
    "--config.decode.nbest=1",
    stdin="twenty one\n\n   \nzebra one\n",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.count("> ") == 2  # the two empty lines are skipped, the stream goes on
  assert "line 2: empty sentence skipped" in proc.stderr
  assert "line 4: out-of-vocabulary words mapped to <unk>: zebra" in proc.stderr
  assert len([line for line in proc.stdout.splitlines() if line.startswith("0 ")]) == 2


def test_evaluate_restores_best_and_reports_test_metrics(run_dir):
  proc = cli("--mode=evaluate", f"--workdir={run_dir}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "test loss" in proc.stderr and "test greedy: BLEU" in proc.stderr
  tests = [
    json.loads(ln)
    for ln in (run_dir / "metrics.jsonl").read_text().splitlines()
    if '"split": "test"' in ln
  ]
  trained, evaluated = tests[0], tests[-1]
  assert "mode" not in trained and evaluated["mode"] == "evaluate"
  assert evaluated["greedy_bleu"] == pytest.approx(trained["greedy_bleu"])


def test_corrupt_checkpoint_is_reported(run_dir, tmp_path):
  broken = tmp_path / "broken"
  shutil.copytree(run_dir, broken)
  for f in (broken / "checkpoints" / "best").rglob("*"):
    if f.is_file() and "state" in str(f) and f.stat().st_size > 0:
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
  assert_user_error(cli("--mode=translate", f"--workdir={broken}", "one"), "corrupt or truncated")


def test_translate_without_checkpoint(tmp_path, run_dir):
  empty = tmp_path / "nockpt"
  empty.mkdir()
  for name in ("config.json", "vocab_src.json", "vocab_tgt.json"):
    shutil.copy(run_dir / name, empty / name)
  assert_user_error(cli("--mode=translate", f"--workdir={empty}", "one"), "no best checkpoint")
  assert_user_error(
    cli("--mode=translate", f"--workdir={tmp_path / 'nothing'}", "one"), "not a seq2seq_jax run"
  )


@pytest.mark.parametrize(
  "args,fragments",
  [
    (["--config.train.nope=1"], ["unknown config key 'train.nope'", "batch_size"]),
    (["--config.train.batch_size=abc"], ["wrong type", "int"]),
    (["--config.data.name=wmt99"], ["unknown dataset 'wmt99'", "multi30k"]),
    (
      ["--config.data.name=multi30k", "--config.data.dir=/nonexistent/m30k"],
      ["/nonexistent/m30k", "--config.data.dir"],
    ),
    (["--config.model.max_len=8"], ["model.max_len is 8", "raise model.max_len"]),
  ],
)
def test_bad_config_and_data_messages(args, fragments, tmp_path):
  assert_user_error(
    cli("--config=configs/transformer.py", f"--workdir={tmp_path}", *args), *fragments
  )


def test_missing_config_file(tmp_path):
  assert_user_error(cli("--config=configs/nothere.py", f"--workdir={tmp_path}"), "not found")


def test_config_override_without_a_config_file_names_the_fix(run_dir):
  assert_user_error(
    cli("--mode=translate", f"--workdir={run_dir}", "--config.decode.beam_size=8", "one"),
    "--config.decode.beam_size overrides a key",
    "--config=configs/transformer.py",
  )


def test_malformed_and_empty_data_files(tmp_path):
  data = tmp_path / "m30k"
  data.mkdir()
  for split in ("train", "val", "test_2016_flickr"):
    (data / f"{split}.de").write_text("ein hund .\nzwei katzen .\n")
    (data / f"{split}.en").write_text("a dog .\ntwo cats .\n")
  (data / "val.en").write_text("a dog .\n")  # one line short
  args = [
    "--config=configs/transformer.py",
    f"--workdir={tmp_path / 'w'}",
    "--config.data.name=multi30k",
    f"--config.data.dir={data}",
    f"--config.data.cache_dir={tmp_path / 'cache'}",
  ]
  assert_user_error(cli(*args), "val")
  (data / "val.en").write_text("")
  assert_user_error(cli(*args), "val.en")
