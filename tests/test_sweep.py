"""The sweep runner: grid parsing, refusal before any run, failed cells, shards and skips,
and the statistics of its report."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.sweep import runner, spec, stats
from seq2seq_jax.sweep.report import _wall as wall_column
from tests.conftest import ROOT, TINY_FLAGS


def test_parse_grid_splits_top_level_commas_only():
  axes = spec.parse_grid(["model.norm=post,pre", "decode.eval_beam_sizes=(4,),(4,8)"])
  assert axes == {"model.norm": ["post", "pre"], "decode.eval_beam_sizes": ["(4,)", "(4,8)"]}
  with pytest.raises(ConfigError, match="key=value1,value2"):
    spec.parse_grid(["model.norm"])
  with pytest.raises(ConfigError, match="twice"):
    spec.parse_grid(["a.b=1", "a.b=2"])


def test_grid_cells_names_flags_and_seed_order():
  sweep = spec.grid(
    "configs/transformer.py",
    {"model.norm": ["post", "pre"], "train.label_smoothing": [0.0, 0.1]},
    seeds=2,
    base={"train.num_epochs": 1},
  )
  assert [c.name for c in sweep.cells] == [
    "norm=post,label_smoothing=0.0",
    "norm=post,label_smoothing=0.1",
    "norm=pre,label_smoothing=0.0",
    "norm=pre,label_smoothing=0.1",
  ]
  assert sweep.seeds == (1234, 1235)  # the config's seed and the next
  assert sweep.baseline == sweep.cells[0].name
  assert sweep.cells[3].flags(7) == [
    "--config=configs/transformer.py",
    "--config.train.num_epochs=1",
    "--config.model.norm=pre",
    "--config.train.label_smoothing=0.1",
    "--config.seed=7",
  ]
  runs = sweep.runs()  # the first seed of every cell before any second seed
  assert [s for _, s in runs] == [1234] * 4 + [1235] * 4
  assert spec.Sweep.from_json(json.loads(json.dumps(sweep.to_json()))) == sweep


def test_check_refuses_unknown_keys_wrong_types_and_bad_values():
  bad = [
    ({"model.nope": [1]}, "model has no 'nope'"),
    ({"train.learning_rate": ["fast"]}, "must be of type float"),
    ({"train.optimizer": ["adam", "foo"]}, "optimizer='foo' must be one of"),
  ]
  for axes, fragment in bad:
    with pytest.raises(ConfigError, match=fragment):
      spec.check(spec.grid("configs/transformer.py", axes, seeds=[0]))


def test_seed_interval():
  iv = stats.seed_interval([30.0, 31.0, 32.0])
  assert iv.mean == pytest.approx(31.0) and iv.std == pytest.approx(1.0)
  assert 30.0 <= iv.low < 31.0 < iv.high <= 32.0
  one = stats.seed_interval([5.0])
  assert (one.std, one.low, one.high) == (0.0, 5.0, 5.0)
  assert one.text() == "5.00 (1 seed)"  # no "± 0.00" that reads as a measured spread
  assert iv.text(1).startswith("31.0 ± 1.0 [")


def _corpus(rng, n=200):
  words = [f"w{i}" for i in range(50)]
  return [" ".join(rng.choice(words, size=8)) for _ in range(n)]


def test_paired_corpus_test_tells_a_better_system_from_noise():
  rng = np.random.default_rng(0)
  refs = _corpus(rng)
  noisy = lambda keep: [  # keep each reference word with probability `keep`
    " ".join(w if rng.random() < keep else "x" for w in r.split()) for r in refs
  ]
  good, bad = [noisy(0.8) for _ in range(2)], [noisy(0.5) for _ in range(2)]
  metric = BLEU(tokenize="none")
  good_s, bad_s = (stats.corpus_stats(metric, h, refs) for h in (good, bad))
  r = stats.paired_corpus_test(metric, good_s, bad_s, resamples=200)
  direct = np.mean([metric.corpus_score(h, [refs]).score for h in good]) - np.mean(
    [metric.corpus_score(h, [refs]).score for h in bad]
  )
  assert r.delta == pytest.approx(direct, abs=1e-6)  # seed means from summed statistics
  assert r.delta > 10 and r.p < 0.01 and r.low > 0
  same = stats.paired_corpus_test(metric, good_s, good_s, resamples=200)
  assert same.delta == 0 and same.p > 0.5


def test_paired_accuracy_test_macro_equals_direct_computation():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 4, size=400)
  a = [rng.random(400) < 0.9 for _ in range(3)]
  b = [rng.random(400) < 0.6 for _ in range(3)]
  r = stats.paired_accuracy_test(a, b, labels, macro=True, resamples=200)
  macro = lambda c: 100 * np.mean([c[labels == k].mean() for k in range(4)])
  assert r.delta == pytest.approx(np.mean([macro(c) for c in a]) - np.mean([macro(c) for c in b]))
  assert r.p < 0.01
  top1 = stats.paired_accuracy_test(a, a, labels, macro=False, resamples=200)
  assert top1.delta == 0 and top1.p > 0.5


def _sweep(tmp_path, *args):
  tiny = [f"--set={k}={v}" for k, v in TINY_FLAGS.items()]
  cmd = [sys.executable, "-m", "seq2seq_jax.sweep", "--config=configs/transformer.py", *tiny]
  return subprocess.run(
    [*cmd, *args, f"--workdir={tmp_path / 'sw'}"], cwd=ROOT, capture_output=True, text=True
  )


def test_bad_grid_is_refused_before_any_run(tmp_path):
  r = _sweep(tmp_path, "--grid=train.label_smoothing=0,lots")
  assert r.returncode == 2, r.stderr
  assert r.stderr.strip().splitlines()[-1].startswith("error: cell label_smoothing=lots")
  assert not (tmp_path / "sw").exists()


def test_sweep_shards_skips_done_runs_reports_failed_cells(tmp_path):
  # model.max_len=8 passes validation but fails at model build (decode.max_len is 20)
  grid = ["--grid=model.max_len=64,8", "--seeds=2"]
  first = _sweep(tmp_path, *grid, "--shard=0/2")  # runs 0 and 2: max_len=64, seeds 1234/1235
  assert first.returncode == 0, first.stderr
  sw = tmp_path / "sw"
  for seed in (1234, 1235):
    assert (sw / "max_len=64" / f"seed_{seed}" / "metrics.jsonl").exists()
    assert not (sw / "max_len=8" / f"seed_{seed}").exists()
  second = _sweep(tmp_path, *grid)
  assert second.returncode == 1  # some failed
  assert second.stderr.count("done already, skipped") == 2
  assert second.stderr.count("FAILED") == 2
  status = json.loads((sw / "max_len=8" / "seed_1234.status.json").read_text())
  assert status["status"] == "failed" and "model.max_len" in status["error"]
  report = (sw / "report.md").read_text()
  assert "| **max_len=64** (baseline) | 2/2 |" in report
  assert "Failed runs" in report and "max_len=8 | 1235 |" in report
  with open(sw / "report.csv") as f:
    rows = {(r["cell"], r["metric"]): r for r in csv.DictReader(f)}
  losses = [
    json.loads((sw / "max_len=64" / f"seed_{s}" / "metrics.jsonl").read_text().splitlines()[-1])[
      "loss"
    ]
    for s in (1234, 1235)
  ]
  assert float(rows[("max_len=64", "loss")]["mean"]) == pytest.approx(np.mean(losses))
  assert (sw / "report.png").stat().st_size > 0
  other = _sweep(tmp_path, "--grid=model.max_len=64", "--seeds=2")
  assert other.returncode == 2 and "holds another sweep" in other.stderr


def test_an_interrupted_run_resumes_and_its_status_sums_every_invocation(tmp_path, monkeypatch):
  sweep = spec.Sweep((spec.Cell("base", "c.py"),), (7,), "base")
  rundir = runner.run_dir(tmp_path, sweep.cells[0], 7)
  clock = iter([100.0, 130.0, 500.0, 545.5])  # 30 s until SIGTERM, then 45.5 s to the end
  monkeypatch.setattr(runner.time, "time", lambda: next(clock))
  children = []

  def child(cmd, log_path):
    children.append(cmd)
    if len(children) == 1:
      return 130  # SIGTERM: the child saved a checkpoint
    (rundir / "metrics.jsonl").write_text(json.dumps({"split": "test", "loss": 1.0}) + "\n")
    return 0

  monkeypatch.setattr(runner, "_run_child", child)
  with pytest.raises(KeyboardInterrupt):
    runner.run_sweep(sweep, tmp_path)
  status = lambda: json.loads(runner.status_path(tmp_path, sweep.cells[0], 7).read_text())
  assert status() == {"status": "interrupted", "seconds": 30.0, "invocations": 1}
  rundir.mkdir(parents=True)
  assert runner.run_sweep(sweep, tmp_path) == {"done": 1, "skipped": 0, "failed": 0}
  assert children[0] == children[1]  # the same command resumes it
  assert status() == {"status": "done", "seconds": 75.5, "invocations": 2}
  assert runner.run_sweep(sweep, tmp_path)["skipped"] == 1 and len(children) == 2
  assert wall_column(status()) == "75.5 (2)"
  assert wall_column({"seconds": 9.0, "invocations": 2, "lower_bound": True}) == "≥ 9.0 (2)"


def test_an_evaluate_line_updates_metrics_but_never_finishes_a_run(tmp_path):
  lines = lambda *rs: (tmp_path / "metrics.jsonl").write_text(
    "".join(json.dumps(r) + "\n" for r in rs)
  )
  epoch = {"epoch": 1, "valid_loss": 2.0}
  lines(epoch, {"split": "test", "mode": "evaluate", "loss": 1.0})
  assert runner.test_record(tmp_path) is None  # stopped mid-training, then evaluated
  lines(epoch, {"split": "test", "loss": 1.5}, {"split": "test", "mode": "evaluate", "loss": 1.0})
  assert runner.test_record(tmp_path)["loss"] == 1.0


def _fake_run(rundir, record, files):
  rundir.mkdir(parents=True)
  (rundir / "metrics.jsonl").write_text(
    json.dumps({"epoch": 1, "valid_loss": 2.0})
    + "\n"
    + json.dumps({"split": "test", **record})
    + "\n"
  )
  for name, text in files.items():
    (rundir / name).write_text(text)


def test_report_pairs_translation_hypotheses_and_classifier_predictions(tmp_path):
  rng = np.random.default_rng(0)
  refs = _corpus(rng, 100)
  noisy = lambda keep: "".join(
    " ".join(w if rng.random() < keep else "x" for w in r.split()) + "\n" for r in refs
  )
  sweep = spec.Sweep((spec.Cell("base", "c.py"), spec.Cell("better", "c.py")), (0, 1), "base")
  for cell, keep in (("base", 0.5), ("better", 0.9)):
    for seed in sweep.seeds:
      hyp = noisy(keep)
      bleu = BLEU(tokenize="none").corpus_score(hyp.splitlines(), [refs]).score
      record = {
        "greedy_bleu": bleu,
        "bleu_signature": "nrefs:1|tok:none",
        "greedy_sentences_per_second": 9.0,
      }
      files = {"hyp_test_greedy.txt": hyp}
      if (cell, seed) == ("better", 1):  # the references in one run only, not the baseline's
        files["ref_test.txt"] = "".join(r + "\n" for r in refs)
      _fake_run(tmp_path / cell / f"seed_{seed}", record, files)
  report = spec_report(sweep, tmp_path)
  assert "| better | greedy_bleu | +" in report and "| better | greedy_chrf | +" in report
  assert "No paired test" not in report
  assert "sentences_per_second" not in report  # speed is not a quality metric
  assert "| **base** (baseline) | 2/2 |" in report
  (tmp_path / "better" / "seed_1" / "ref_test.txt").unlink()  # a study's committed runs
  report = spec_report(sweep, tmp_path)
  assert "| better | greedy_bleu |" not in report and "No paired test" in report

  labels = rng.integers(0, 3, size=60)
  cls = tmp_path / "cls"
  for cell, keep in (("base", 0.5), ("better", 0.95)):
    for seed in sweep.seeds:
      correct = rng.random(60) < keep
      tsv = "index\ttext\tlabel\tprediction\tcorrect\n" + "".join(
        f"{i}\tn{i}\t{lab}\t{lab if c else -1}\t{int(c)}\n"
        for i, (lab, c) in enumerate(zip(labels, correct))
      )
      _fake_run(
        cls / cell / f"seed_{seed}",
        {"top1_accuracy": 100 * correct.mean()},
        {"predictions_test.tsv": tsv},
      )
  report = spec_report(sweep, cls)
  assert "| better | top1_accuracy | +" in report and "| better | macro_accuracy | +" in report
  assert "No paired test" not in report
  for seed in sweep.seeds:  # a study's committed baseline runs, without the names
    (cls / "base" / f"seed_{seed}" / "predictions_test.tsv").unlink()
  report = spec_report(sweep, cls)
  assert "| better | top1_accuracy |" not in report and "No paired test for 2 run(s)" in report


def test_frontier_table_chooses_tau_on_validation_not_test():
  from seq2seq_jax.sweep import report

  def front(valid, test):  # per tau: (top-1, macro)
    row = lambda t, a: {
      "tau": t,
      "top1_accuracy": a[0],
      "top3_accuracy": 99.0,
      "macro_accuracy": a[1],
    }
    return {
      "validation": [row(t, a) for t, a in zip((0.0, 0.5, 1.0), valid)],
      "test": [row(t, a) for t, a in zip((0.0, 0.5, 1.0), test)],
    }

  valid = [(84.0, 50.0), (83.0, 58.0), (76.0, 62.0)]  # sums 134, 141, 138
  test = [(85.0, 52.0), (84.0, 59.0), (77.0, 70.0)]  # the test set would pick tau 1
  records = {
    "bigru": {0: {"frontier": front(valid, test)}, 1: {"frontier": front(valid, test[::-1])}},
    "translation": {0: {"greedy_bleu": 30.0}},  # no frontier: no row
  }
  md = report.frontier_table(records)
  row = next(x for x in md if x.startswith("| bigru |"))
  assert row == "| bigru | 2 | 0.5 | 81.0 / 61.0 | **84.0 / 59.0** | 81.0 / 61.0 |"
  assert not any(x.startswith("| translation") for x in md)
  assert report.frontier_table({"translation": records["translation"]}) == []


def spec_report(sweep, workdir):
  from seq2seq_jax.sweep import report

  return report.write_report(sweep, workdir).read_text()
