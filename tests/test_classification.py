"""The char-RNN surname classifier: data, split, masking, sampler, training, predict."""

import json
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.data import registry
from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.data.sources.names import NAME_LETTERS, to_name_letters
from seq2seq_jax.data.types import LabelledText
from seq2seq_jax.models.classifier import CharClassifier
from seq2seq_jax.tasks import classification
from tests.conftest import SHARED_DATA, assert_user_error, cli, load_config

JUNK = ["To The First  Page", "Lytkin,", "Rafaj1", "", "日本"]


def fake_names(root, n=30, seed=0):
  """Three 'languages' told apart by their endings, plus junk lines."""
  rng = np.random.default_rng(seed)
  root.mkdir(parents=True, exist_ok=True)
  for label, suffix in (("Polish", "ski"), ("Russian", "ov"), ("Spanish", "ez")):
    names = [
      "".join(rng.choice(list("bdgklmnprstv"), rng.integers(2, 6))).title() + suffix
      for _ in range(n)
    ]
    extra = ["Ślusàrski"] if label == "Polish" else JUNK if label == "Russian" else []
    (root / f"{label}.txt").write_text("\n".join(names + extra) + "\n", encoding="utf-8")
  return root


def tiny_config(tmp_path, arg="default"):
  c = load_config("char_rnn", arg)
  c.data.update(dir=str(fake_names(tmp_path / "names")), cache_dir=str(tmp_path / "cache"))
  c.model.update(hidden=16, embed_dim=8, num_layers=1)
  c.train.update(num_epochs=3, batch_size=8, eval_batch_size=16)
  return c


def test_to_name_letters_keeps_the_tutorials_57_letters():
  assert len(NAME_LETTERS) == 57
  assert to_name_letters("Ślusàrski") == "Slusarski"
  assert to_name_letters("O'Néill, Jr.") == "O'Neill, Jr."
  assert to_name_letters("Lu:") == "Lu" and to_name_letters("日本") == ""


def test_names_loader_survives_junk_lines(tmp_path):
  c = tiny_config(tmp_path)
  data = registry.load_labelled(c.data)
  assert data.label_names == ["Polish", "Russian", "Spanish"]
  assert len(data.texts) == 3 * 30 + 1 + 3 and sorted(data.dropped) == ["", "日本"]
  pairs = set(zip(data.texts, (data.label_names[y] for y in data.labels)))
  assert {
    ("Slusarski", "Polish"),
    ("To The First  Page", "Russian"),
    ("Lytkin,", "Russian"),
    ("Rafaj", "Russian"),
  } <= pairs


def labelled(sizes):
  texts = [f"n{c}x{i}" for c, n in enumerate(sizes) for i in range(n)]
  labels = [c for c, n in enumerate(sizes) for _ in range(n)]
  return LabelledText(texts, labels, [f"L{c}" for c in range(len(sizes))], [])


def test_split_is_stratified_deterministic_and_saved_for_reuse(tmp_path):
  data = labelled([200, 40, 20])
  split = classification.make_split(data, 0.15, 0.1, seed=0)
  for y, n in enumerate([200, 40, 20]):
    count = {s: sum(label == y for _, label in getattr(split, s)) for s in classification.SPLITS}
    n_test = round(0.15 * n)
    assert count["test"] == n_test and count["validation"] == round(0.1 * (n - n_test))
    assert sum(count.values()) == n
  names = [n for s in classification.SPLITS for n, _ in getattr(split, s)]
  assert sorted(names) == sorted(data.texts)  # disjoint and complete
  assert classification.make_split(data, 0.15, 0.1, seed=0) == split
  assert classification.make_split(data, 0.15, 0.1, seed=1).test != split.test

  c = tiny_config(tmp_path)
  first = classification.split_for(c, tmp_path)
  assert (tmp_path / classification.SPLIT_FILE).exists()
  shutil.rmtree(c.data.dir)  # the saved split is reused: no dataset needed any more
  assert classification.split_for(c, tmp_path) == first
  assert first.labels == ["Polish", "Russian", "Spanish"]


@pytest.mark.parametrize(
  "kw",
  [
    dict(cell="tutorial"),
    dict(cell="gru", input="embed"),
    dict(cell="gru", bidirectional=True, input="embed"),
    dict(cell="lstm", bidirectional=True),
  ],
)
def test_padded_batch_equals_each_name_alone(kw):
  """A batch [4, 11] (the longest name unpadded) against each name alone in a [1, 16] row."""
  model = CharClassifier(num_classes=5, hidden=16, embed_dim=8, **kw)
  names = ["Hinton", "Li", "Schmidhuber", "O'Neill"]
  chars, length = classification.pad_names(names, ())
  params = model.init(jax.random.PRNGKey(0), jnp.asarray(chars), jnp.asarray(length))
  apply = jax.jit(model.apply)
  batch = apply(params, chars, length)
  assert batch.shape == (4, 5) and chars.shape == (4, 11)
  for i, name in enumerate(names):
    alone = apply(params, *classification.pad_names([name], (16,)))
    np.testing.assert_allclose(batch[i], alone[0], atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(jnp.exp(batch).sum(-1), 1.0, rtol=1e-5)  # log-probabilities


def test_tutorial_cell_is_the_tutorials_math():
  """combined = [onehot, h]; h' = i2h(combined); out = log_softmax(i2o(combined)) at the end."""
  model = CharClassifier(num_classes=4, hidden=6)
  chars, length = classification.pad_names(["Abc"], ())
  params = model.init(jax.random.PRNGKey(1), chars, length)
  p = params["params"]["rnn"]
  assert p["i2h"]["kernel"].shape == (57 + 6, 6) and p["i2o"]["kernel"].shape == (57 + 6, 4)
  h = np.zeros(6)
  for ch in "Abc":
    combined = np.concatenate([np.eye(57)[NAME_LETTERS.index(ch)], h])
    h, out = (
      combined @ p["i2h"]["kernel"] + p["i2h"]["bias"],
      combined @ p["i2o"]["kernel"] + p["i2o"]["bias"],
    )
  expected = out - np.log(np.exp(out).sum())
  np.testing.assert_allclose(model.apply(params, chars, length)[0], expected, atol=1e-5)


def test_balanced_sampler_draws_classes_uniformly_and_is_seeded():
  classes = np.repeat([0, 1, 2], [900, 90, 10])
  lengths = np.random.default_rng(0).integers(1, 20, len(classes))
  examples = [dict(x=np.ones(k, np.int32), label=y) for k, y in zip(lengths, classes)]
  ds = BucketedDataset(
    examples, lengths, (8, 12, 20), 16, sampling="balanced", classes=classes, steps_per_epoch=200
  )
  batches = list(ds.batches(seed=3, epoch=0))
  assert len(batches) == ds.num_batches() == 200
  rows = np.concatenate([b["index"] for b in batches])
  assert (rows >= 0).all()
  freq = np.bincount(classes[rows], minlength=3) / len(rows)
  np.testing.assert_allclose(freq, 1 / 3, atol=0.03)  # not 0.9 / 0.09 / 0.01
  for b in batches:
    assert b["x"].shape[0] == 16 and b["x"].shape[1] in (8, 12, 20)
    assert b["x"].shape[1] >= lengths[b["index"]].max()
    np.testing.assert_array_equal(b["label"], classes[b["index"]])
  order = lambda **kw: [tuple(b["index"]) for b in ds.batches(**kw)]
  assert order(seed=3, epoch=0) == [tuple(b["index"]) for b in batches]
  assert order(seed=3, epoch=1) != order(seed=3, epoch=0)
  assert order(seed=3, epoch=1, start=150) == order(seed=3, epoch=1)[150:]


def test_tutorial_recipe_learns_with_batch_one(tmp_path):
  c = tiny_config(tmp_path, "tutorial")
  c.model.hidden = 32
  c.train.update(
    num_epochs=3, batch_size=1, steps_per_epoch=300, learning_rate=0.02, log_every_steps=100
  )
  c.report.sample_every_epochs = 1
  task = classification.build_task(c, tmp_path)
  assert task.train_data.batch_size == 1 and task.train_data.num_batches() == 300
  result = train.train_and_evaluate(task, c, tmp_path)
  records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  history = [r for r in records if "epoch" in r]  # and a step record every 100 steps
  assert [r["step"] for r in records if "epoch" not in r and "split" not in r] == [
    100 * k for k in range(1, 10)
  ]
  assert "examples_per_second" in records[0]  # a classifier's Sums.weight counts examples
  assert history[2]["train_loss"] < history[0]["train_loss"] < np.log(3)
  assert result["top1_accuracy"] > 60.0  # three well separated suffixes


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("char_rnn")
  c = tiny_config(tmp)
  workdir = tmp / "run"
  proc = cli(
    "--config=configs/char_rnn.py",
    f"--workdir={workdir}",
    f"--config.data.dir={c.data.dir}",
    f"--config.data.cache_dir={c.data.cache_dir}",
    "--config.model.hidden=16",
    "--config.model.embed_dim=8",
    "--config.model.num_layers=1",
    "--config.train.num_epochs=6",
    "--config.train.batch_size=8",
    "--config.train.learning_rate=0.01",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "test: top-1" in proc.stderr and re.search(r"\d+ \d+% \(\d+m \d+s\) ", proc.stderr)
  shutil.rmtree(c.data.dir)  # evaluate and predict need only the run directory
  return workdir


def test_training_reports_accuracies_and_writes_the_confusion_png(run_dir):
  for name in (
    "config.json",
    "split.json",
    "params.txt",
    "metrics.jsonl",
    "loss.png",
    "confusion_test.png",
  ):
    assert (run_dir / name).exists(), name
  test = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
  assert test["split"] == "test" and test["top1_accuracy"] >= 80.0
  assert test["top3_accuracy"] == 100.0  # three labels
  assert (test["confusion_png"], test["predictions_tsv"]) == (
    "confusion_test.png",
    "predictions_test.tsv",
  )  # relative to the run directory
  assert set(test["per_language_accuracy"]) == {"Polish", "Russian", "Spanish"}
  assert test["macro_accuracy"] == pytest.approx(
    np.mean(list(test["per_language_accuracy"].values()))
  )
  proc = cli("--mode=evaluate", f"--workdir={run_dir}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f"top-1 {test['top1_accuracy']:.1f}%" in proc.stderr


def test_test_report_writes_per_example_predictions(run_dir):
  rows = [x.split("\t") for x in (run_dir / "predictions_test.tsv").read_text().splitlines()]
  assert rows[0] == ["index", "text", "label", "prediction", "correct", "top3"]
  split = classification.Split.load(run_dir / "split.json")
  assert [(r[1], split.labels.index(r[2])) for r in rows[1:]] == split.test  # split order
  assert [int(r[0]) for r in rows[1:]] == list(range(len(split.test)))
  test = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
  correct = [int(r[4]) for r in rows[1:]]
  assert 100.0 * np.mean(correct) == pytest.approx(test["top1_accuracy"])
  for r in rows[1:]:
    top = [(lang, float(lp)) for lang, lp in (x.split(":") for x in r[5].split(" "))]
    scores = [lp for _, lp in top]
    assert len(top) == 3 and top[0][0] == r[3] and scores == sorted(scores, reverse=True)
    assert int(r[4]) == (r[3] == r[2])


def test_logit_adjustment_divides_out_the_training_prior():
  train_examples = [("a", 0)] * 8 + [("b", 1)] * 2  # label 2 has no training names
  prior = classification.log_prior(train_examples, 3)
  np.testing.assert_allclose(np.exp(prior), [8 / 11, 2 / 11, 1 / 11])
  logp = np.log([[0.6, 0.4, 1e-6], [0.9, 0.1, 1e-6]])
  assert classification.adjust(logp, prior, 0.0) is logp
  balanced = classification.adjust(logp, prior, 1.0)
  np.testing.assert_allclose(np.exp(balanced).sum(axis=1), 1.0, rtol=1e-6)  # log-probs
  np.testing.assert_allclose(  # p(y|x) / prior(y), renormalised
    np.exp(balanced[0]), (p := np.array([0.6, 0.4, 1e-6]) / np.exp(prior)) / p.sum(), rtol=1e-6
  )
  assert balanced.argmax(axis=1).tolist() == [1, 0]  # 0.4 of a rare label beats 0.6
  rows = classification.frontier(logp, np.array([1, 0]), prior, taus=(0.0, 1.0))
  assert [(r["tau"], r["top1_accuracy"], r["macro_accuracy"]) for r in rows] == [
    (0.0, 50.0, 50.0),
    (1.0, 100.0, 100.0),
  ]
  csv = classification.frontier_csv({"validation": rows, "test": rows[:1]}).splitlines()
  assert csv[0] == "split,tau,top1_accuracy,top3_accuracy,macro_accuracy"
  assert csv[1:] == [
    "validation,0,50.00,100.00,50.00",
    "validation,1,100.00,100.00,100.00",
    "test,0,50.00,100.00,50.00",
  ]


def test_test_report_writes_the_logit_adjustment_frontier(run_dir, tmp_path):
  run = shutil.copytree(run_dir, tmp_path / "run")  # evaluate below rewrites the report files
  test = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
  assert test["logit_adjustment"] == 0.0 and test["frontier_csv"] == "frontier_test.csv"
  rows = [x.split(",") for x in (run / "frontier_test.csv").read_text().splitlines()[1:]]
  assert [(r[0], float(r[1])) for r in rows] == [
    (s, t) for s in ("validation", "test") for t in classification.FRONTIER_TAUS
  ]
  assert float(rows[11][2]) == pytest.approx(test["top1_accuracy"], abs=0.005)  # test, tau 0
  assert (run / "frontier_test.png").exists()
  tau1 = next(r for r in test["frontier"]["test"] if r["tau"] == 1.0)
  proc = cli(  # report.* may change after training: evaluate with the balanced prediction
    "--mode=evaluate",
    f"--workdir={run}",
    "--config=configs/char_rnn.py",
    "--config.report.logit_adjustment=1.0",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "logit adjustment 1 " in proc.stderr or "logit adjustment 1\n" in proc.stderr
  again = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
  assert again["mode"] == "evaluate" and again["logit_adjustment"] == 1.0
  assert again["top1_accuracy"] == pytest.approx(tau1["top1_accuracy"])
  assert again["macro_accuracy"] == pytest.approx(tau1["macro_accuracy"])
  correct = [
    int(x.split("\t")[4]) for x in (run / "predictions_test.tsv").read_text().splitlines()[1:]
  ]
  assert 100.0 * np.mean(correct) == pytest.approx(again["top1_accuracy"])

  tune = ("--config=configs/char_rnn.py", "--config.report.tune_logit_adjustment=True")
  predict = lambda: cli("--mode=predict", f"--workdir={run}", *tune, "Kowalski")
  (run / "metrics.jsonl").write_text(  # as before any tuned report (the training lines only)
    "".join(x + "\n" for x in (run / "metrics.jsonl").read_text().splitlines() if '"test"' not in x)
  )
  assert_user_error(predict(), "has none yet: run --mode=evaluate")
  proc = cli("--mode=evaluate", f"--workdir={run}", *tune)
  assert proc.returncode == 0, proc.stderr[-2000:]
  tuned = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
  assert tuned["logit_adjustment"] == classification.tuned(tuned["frontier"]["validation"])
  assert predict().returncode == 0  # with the tau the report chose


def test_predict_prints_top3_with_log_probabilities(run_dir):
  proc = cli("--mode=predict", f"--workdir={run_dir}", "Kowalski", "日本", "Ibáñez")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0] == "> Kowalski" and lines[4] == "> Ibáñez  (as Ibanez)" and len(lines) == 8
  for block in (lines[1:4], lines[5:8]):
    scores = [
      float(re.fullmatch(r"\((-?\d+\.\d\d)\) (Polish|Russian|Spanish)", x)[1]) for x in block
    ]
    assert all(s <= 0 for s in scores) and scores == sorted(scores, reverse=True)
  assert lines[1].endswith("Polish") and lines[5].endswith("Spanish")
  assert "'日本' is empty after ascii folding" in proc.stderr and "Traceback" not in proc.stderr


def test_predict_with_only_empty_names_is_a_clear_error(run_dir):
  assert_user_error(
    cli("--mode=predict", f"--workdir={run_dir}", "日本", "123"), "empty after ascii folding"
  )
  proc = cli("--mode=predict", f"--workdir={run_dir}", stdin="Ivanov\n\n")
  assert proc.returncode == 0 and proc.stdout.startswith("> Ivanov\n"), proc.stderr[-2000:]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no shared data at {SHARED_DATA}")
def test_real_names_split_matches_the_issue(tmp_path):
  c = load_config("char_rnn")
  c.data.update(dir=str(SHARED_DATA / "names"), cache_dir=str(tmp_path / "cache"))
  split = classification.split_for(c, tmp_path)
  assert len(split.labels) == 18
  assert len(split.train) + len(split.validation) + len(split.test) == 20074
  assert len(split.test) == 3012
  assert split.duplicates()["names_in_several_languages"] == 476
