"""The classification task: surnames -> language with a char-RNN, and predict mode.

Batches (fixed shapes from data/pipeline.py):
  chars [B,L] letter ids (1..57, 0 = padding)   length [B]   label [B]
  index [B] example id in its split (-1: padding row, zero weight)

The stratified train/validation/test split is drawn once (seeded) and saved as
`split.json` in the work directory with the label names, so evaluate and
predict use the same test names and need no dataset.

Predictions may be logit-adjusted after training (`report.logit_adjustment` = tau):
log p(y|x) - tau log prior(y), the prior being the training labels' frequencies (Menon
et al. 2021, "Long-tail learning via logit adjustment"). tau 0 is the model's own argmax
(best top-1 when the test labels follow the training frequencies); tau 1 is the argmax
for equally likely labels (best macro accuracy). Every test report also writes
`frontier_test.csv` / `.png`: top-1, top-3 and macro accuracy of the validation and
test splits for tau in 0, 0.1, ..., 1, so tau can be chosen on validation:
`report.tune_logit_adjustment=True` does so in each report (the tau of highest
validation top-1 + macro accuracy), records it as `logit_adjustment` in the test line of
metrics.jsonl, and predict mode uses the one recorded last.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import metrics, plots, rundir
from seq2seq_jax.config import models as config_models
from seq2seq_jax.data.pipeline import BucketedDataset, fit_edges
from seq2seq_jax.data.registry import load_labelled
from seq2seq_jax.data.sources.names import NAME_LETTERS, to_name_letters
from seq2seq_jax.data.types import LabelledText
from seq2seq_jax.errors import CheckpointError, ConfigError, DataError
from seq2seq_jax.models.classifier import CharClassifier
from seq2seq_jax.tasks import base
from seq2seq_jax.tasks.base import Sums, Task, map_dataset
from seq2seq_jax.train.sharding import is_main_process

log = logging.getLogger("seq2seq_jax")

SPLIT_FILE = "split.json"
RUN_FILES = (SPLIT_FILE,)  # what the run directory holds besides config and checkpoints
SPLITS = ("train", "validation", "test")
FRONTIER_TAUS = tuple(i / 10 for i in range(11))  # the logit adjustments a report scores
Example = tuple[str, int]  # (ascii name, label id)


@dataclasses.dataclass(frozen=True)
class Split:
  """Label names (index order) and the (name, label id) examples of each split."""

  labels: list[str]
  train: list[Example]
  validation: list[Example]
  test: list[Example]

  def save(self, path: Path) -> None:
    path.write_text(json.dumps(dataclasses.asdict(self), ensure_ascii=False) + "\n")

  @classmethod
  def load(cls, path: Path) -> Split:
    d = json.loads(path.read_text())
    return cls(d["labels"], *([(n, int(y)) for n, y in d[s]] for s in SPLITS))

  def duplicates(self) -> dict[str, int]:
    """Names that occur under several labels (kept as the data has them)."""
    labels_of = collections.defaultdict(set)
    for s in SPLITS:
      for name, y in getattr(self, s):
        labels_of[name].add(y)
    multi = {n for n, ys in labels_of.items() if len(ys) > 1}
    return {
      "names_in_several_languages": len(multi),
      **{
        f"{s}_examples_with_such_names": sum(n in multi for n, _ in getattr(self, s))
        for s in SPLITS
      },
    }


def make_split(data: LabelledText, test_fraction: float, valid_fraction: float, seed: int) -> Split:
  """Stratified: per label, round(test_fraction * n) test names, then round(valid_fraction *
  rest) validation names, the remainder train; drawn from `seed`, file order kept."""
  rng = np.random.default_rng(seed)
  labels = np.asarray(data.labels)
  parts = {s: [] for s in SPLITS}
  for y in range(len(data.label_names)):
    idx = rng.permutation(np.flatnonzero(labels == y))
    n_test = int(round(test_fraction * len(idx)))
    n_valid = int(round(valid_fraction * (len(idx) - n_test)))
    for s, chosen in zip(
      SPLITS, (idx[n_test + n_valid :], idx[n_test : n_test + n_valid], idx[:n_test])
    ):
      parts[s] += chosen.tolist()
  return Split(
    list(data.label_names),
    *([(data.texts[i], data.labels[i]) for i in sorted(parts[s])] for s in SPLITS),
  )


def split_for(config, workdir: Path) -> Split:
  """The run's saved split, or a new one from the dataset (saved for evaluate / predict)."""
  path = workdir / SPLIT_FILE
  if path.exists():
    return Split.load(path)
  data = load_labelled(config.data)
  if data.dropped:
    log.warning(
      "%d lines are empty after ascii folding and were skipped: %s",
      len(data.dropped),
      ", ".join(repr(x) for x in data.dropped[:5]),
    )
  d = config.data
  split = make_split(data, d.test_fraction, d.valid_fraction, d.split_seed)
  split.save(path)
  log.info("saved the split to %s", path)
  return split


def encode(name: str) -> np.ndarray:
  """ascii name -> letter ids [len(name)] (1..57; 0 is padding)."""
  return np.asarray([NAME_LETTERS.index(c) + 1 for c in name], np.int32)


def make_model(config, num_classes: int) -> CharClassifier:
  return config_models.make_model(
    config.model, "classification", num_classes=num_classes, num_letters=len(NAME_LETTERS)
  )


def bucket_edges(config, examples: Iterable[Example]) -> tuple[int, ...]:
  """config.data.bucket_edges, plus one edge (multiple of 4) if a name is longer (the RNN
  has no length limit): `pipeline.fit_edges`."""
  lengths = [len(n) for n, _ in examples]
  return fit_edges(config.data.bucket_edges, lengths, multiple=4, what="names")


def make_dataset(
  examples: Sequence[Example],
  edges: tuple[int, ...],
  batch_size: int,
  *,
  sampling: str = "shuffle",
  steps_per_epoch: int = 0,
) -> BucketedDataset:
  rows = [dict(chars=encode(n), length=len(n), label=y) for n, y in examples]
  return BucketedDataset(
    rows,
    np.asarray([len(n) for n, _ in examples]),
    edges,
    batch_size,
    sampling=sampling,
    classes=np.asarray([y for _, y in examples]),
    steps_per_epoch=steps_per_epoch,
  )


def pad_names(names: Sequence[str], edges: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
  """Names -> chars [N, edge] (the first edge >= the longest, else its length), length [N]."""
  longest = max(len(n) for n in names)
  edge = next((e for e in edges if e >= longest), longest)
  chars = np.zeros((len(names), edge), np.int32)
  for i, n in enumerate(names):
    chars[i, : len(n)] = encode(n)
  return chars, np.asarray([len(n) for n in names], np.int32)


def init_args(config) -> tuple:
  """Dummy (chars, length) that `model.init` traces once."""
  return base.init_inputs(config)


def class_weights(train: Sequence[Example], num_classes: int, power: float) -> np.ndarray:
  """[C] loss weight ~ count**-power (0: natural, 1: every class equal), mean 1 over train."""
  counts = np.bincount([y for _, y in train], minlength=num_classes).astype(np.float64)
  w = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
  return (w * counts.sum() / (w * counts).sum()).astype(np.float32)


def make_loss_fn(model, label_smoothing: float, weights: np.ndarray):
  """NLL of the label (class-weighted and smoothed in training only); counts top-1/3."""

  def loss_fn(params, batch, rng, train: bool, step=0):
    logp = model.apply(params, batch["chars"], batch["length"], train, rngs={"dropout": rng})
    logp = logp.astype(jnp.float32)  # the loss in fp32 under train.compute_dtype=bfloat16
    real = (batch["index"] >= 0).astype(jnp.float32)
    true = jnp.take_along_axis(logp, batch["label"][:, None], axis=-1)[:, 0]
    rank = (logp > true[:, None]).sum(axis=-1)  # classes scored above the label
    nll = -true
    counts = {"correct": ((rank == 0) * real).sum(), "correct3": ((rank < 3) * real).sum()}
    sums = Sums(loss=(nll * real).sum(), weight=real.sum(), norm=real.sum(), counts=counts)
    if train:
      nll = base.smoothed(nll, logp, label_smoothing)
      real = real * jnp.asarray(weights)[batch["label"]]
      sums = sums.replace(norm=real.sum())
    return (nll * real).sum() / jnp.maximum(real.sum(), 1e-9), sums

  return loss_fn


def summarize(sums: Sums) -> dict[str, float]:
  loss = sums.mean_loss()
  return {
    "loss": loss,
    "ppl": metrics.perplexity(loss),
    "accuracy": base.percent(sums),
    "top3_accuracy": base.percent(sums, "correct3"),
  }


def log_probs(model, params, data: BucketedDataset) -> np.ndarray:
  """[N, C] log-probabilities of every example of `data`, in dataset order."""
  apply = jax.jit(model.apply)
  rows = map_dataset(data, lambda b: np.asarray(apply(params, b["chars"], b["length"])))
  return np.stack(rows).astype(np.float32)


def log_prior(train: Sequence[Example], num_classes: int) -> np.ndarray:
  """[C] log frequency of each label in the training split (a label without training
  names counts once, so the log stays finite)."""
  counts = np.maximum(np.bincount([y for _, y in train], minlength=num_classes), 1)
  return np.log(counts / counts.sum())


def adjust(logp: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
  """Logit adjustment: log p(y|x) - tau * log prior(y), renormalised to log-probabilities.
  logp [N, C], prior [C] (log_prior's) -> [N, C]; tau 0 returns logp itself."""
  if not tau:
    return logp
  z = logp - tau * prior
  return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def frontier(
  logp: np.ndarray, labels: np.ndarray, prior: np.ndarray, taus: Sequence[float] = FRONTIER_TAUS
) -> list[dict[str, float]]:
  """top-1 / top-3 / macro accuracy (%) of the adjusted predictions at each tau."""
  rows = []
  for tau in taus:
    r = accuracy_report(adjust(logp, prior, tau), labels, [str(c) for c in range(len(prior))])
    rows.append({"tau": tau, **{k: r[k] for k in ACCURACIES}})
  return rows


ACCURACIES = ("top1_accuracy", "top3_accuracy", "macro_accuracy")


def tuned(validation: list[dict[str, float]]) -> float:
  """The frontier's tau of highest top-1 + macro accuracy (the smallest on a tie)."""
  return max(validation, key=lambda r: (r["top1_accuracy"] + r["macro_accuracy"], -r["tau"]))["tau"]


def frontier_csv(frontiers: dict[str, list[dict[str, float]]]) -> str:
  """`split,tau,top1_accuracy,top3_accuracy,macro_accuracy` rows of each split's frontier."""
  lines = [",".join(("split", "tau", *ACCURACIES))]
  for name, rows in frontiers.items():
    lines += [f"{name},{r['tau']:g}," + ",".join(f"{r[k]:.2f}" for k in ACCURACIES) for r in rows]
  return "\n".join(lines) + "\n"


def accuracy_report(logp: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> dict:
  """top-1, top-3, per-label and macro accuracy (%), and the confusion matrix."""
  rank = (logp > np.take_along_axis(logp, labels[:, None], axis=1)).sum(axis=1)
  per_label = {
    name: 100.0 * float(np.mean(rank[labels == y] == 0))
    for y, name in enumerate(label_names)
    if (labels == y).any()
  }
  return {
    "top1_accuracy": 100.0 * float(np.mean(rank == 0)),
    "top3_accuracy": 100.0 * float(np.mean(rank < 3)),
    "macro_accuracy": float(np.mean(list(per_label.values()))),
    "per_language_accuracy": per_label,
    "confusion": metrics.confusion_matrix(labels, logp.argmax(axis=1), len(label_names)),
  }


def predictions_tsv(
  examples: Sequence[Example], logp: np.ndarray, label_names: Sequence[str], topk: int
) -> str:
  """The per-example table of a split (logp [N, C]): a header, then one tab-separated row
  per example in split order: index (0-based), text, label, prediction, correct (1|0),
  top<k> (`Language:logprob` best first, space-separated). correct is top-1 accuracy's
  (no class scored above the label), so its mean is top1_accuracy / 100."""
  k = min(topk, len(label_names))
  rows = [f"index\ttext\tlabel\tprediction\tcorrect\ttop{k}"]
  for i, ((name, y), row) in enumerate(zip(examples, logp)):
    order = np.argsort(-row, kind="stable")[:k]
    top = " ".join(f"{label_names[c]}:{row[c]:.4f}" for c in order)
    correct = int(not (row > row[y]).any())
    rows.append(f"{i}\t{name}\t{label_names[y]}\t{label_names[order[0]]}\t{correct}\t{top}")
  return "\n".join(rows) + "\n"


def build_task(config, workdir: Path) -> Task:
  split = split_for(config, workdir)
  if not split.test:  # an imported model without the dataset (python -m seq2seq_jax.interop)
    raise DataError(
      f"{workdir / SPLIT_FILE} holds the labels but no names: the run was "
      "imported without its dataset, so it can predict but not evaluate or train. "
      "Import it again with config.data.dir pointing at the names data."
    )
  num_classes = len(split.labels)
  t = config.train
  edges = bucket_edges(config, split.train + split.validation + split.test)
  datasets = {
    "train": make_dataset(
      split.train, edges, t.batch_size, sampling=t.sampling, steps_per_epoch=t.steps_per_epoch
    ),
    "validation": make_dataset(split.validation, edges, t.eval_batch_size),
    "test": make_dataset(split.test, edges, t.eval_batch_size),
  }
  dup = split.duplicates()
  log.info(
    "%d languages; %d/%d/%d train/validation/test names; %d names occur in several "
    "languages (%d test names are such names)",
    num_classes,
    len(split.train),
    len(split.validation),
    len(split.test),
    dup["names_in_several_languages"],
    dup["test_examples_with_such_names"],
  )
  model = make_model(config, num_classes)
  prior = log_prior(split.train, num_classes)
  tune = bool(config.get("report", {}).get("tune_logit_adjustment", False))

  def report(params, split_name: str) -> dict:
    raw = {}
    for name in dict.fromkeys(("validation", split_name)):  # validation first: tau's choice
      labels = np.asarray([y for _, y in getattr(split, name)])
      raw[name] = (log_probs(model, params, datasets[name]), labels)
    frontiers = {name: frontier(lp, labels, prior) for name, (lp, labels) in raw.items()}
    tau = tuned(frontiers["validation"]) if tune else logit_adjustment(config)
    logp, labels = raw[split_name]
    logp = adjust(logp, prior, tau)
    examples = getattr(split, split_name)
    out = accuracy_report(logp, labels, split.labels)
    tsv = workdir / f"predictions_{split_name}.tsv"
    csv = workdir / f"frontier_{split_name}.csv"
    if is_main_process():
      rundir.write_text(tsv, predictions_tsv(examples, logp, split.labels, config.report.topk))
      rundir.write_text(csv, frontier_csv(frontiers))
      plots.loss_curves(
        {
          n: [(r["top1_accuracy"], r["macro_accuracy"]) for r in rows]
          for n, rows in frontiers.items()
        },
        csv.with_suffix(".png"),
        xlabel="top-1 accuracy %",
        ylabel="macro accuracy %",
        title=f"logit adjustment: tau {FRONTIER_TAUS[0]:g} (right) .. {FRONTIER_TAUS[-1]:g}",
      )
    path = workdir / f"confusion_{split_name}.png"
    plots.confusion(
      out.pop("confusion"),
      split.labels,
      path,
      title=f"{split_name}: top-1 {out['top1_accuracy']:.1f}%, "
      f"macro {out['macro_accuracy']:.1f}% (rows normalised)"
      + (f", logit adjustment {tau:g}" if tau else ""),
    )
    log.info(
      "%s: top-1 %.1f%% | top-3 %.1f%% | macro %.1f%% | %d names%s",
      split_name,
      out["top1_accuracy"],
      out["top3_accuracy"],
      out["macro_accuracy"],
      len(examples),
      f" | logit adjustment {tau:g}" if tau else "",
    )
    for name, rows in frontiers.items():
      log.info(
        "%s frontier (tau: top-1/macro %%): %s",
        name,
        "  ".join(
          f"{r['tau']:g}: {r['top1_accuracy']:.1f}/{r['macro_accuracy']:.1f}" for r in rows
        ),
      )
    for name, acc in out["per_language_accuracy"].items():
      log.info("  %-12s %5.1f%%", name, acc)
    return {
      **out,
      "logit_adjustment": tau,
      "frontier": frontiers,
      "confusion_png": path.name,
      "predictions_tsv": tsv.name,
      "frontier_csv": csv.name,
      "duplicates": dup,
    }

  weights = class_weights(split.train, num_classes, t.class_balance)
  return Task.of(
    model,
    init_args(config),
    datasets,
    loss_fn=make_loss_fn(model, t.label_smoothing, weights),
    summarize=summarize,
    report=report,
    epoch_line=base.loss_ppl_line,
    units="examples",
    on_epoch_end=sample_printer(config, model, split, edges, datasets["train"].num_batches()),
  )


def logit_adjustment(config, workdir: Path | None = None) -> float:
  """report.logit_adjustment (tau; 0 for a run saved before the key), or with
  report.tune_logit_adjustment and a workdir the tau its latest test report chose."""
  report = config.get("report", {})
  if workdir is None or not report.get("tune_logit_adjustment", False):
    return float(report.get("logit_adjustment", 0.0))
  path = workdir / "metrics.jsonl"
  lines = path.read_text().splitlines() if path.exists() else []
  for line in reversed(lines):
    try:
      record = json.loads(line)
    except json.JSONDecodeError:  # a torn last line
      continue
    if record.get("split") == "test" and "logit_adjustment" in record:
      return float(record["logit_adjustment"])
  raise ConfigError(
    f"report.tune_logit_adjustment chooses tau on validation in the test report, and "
    f"{workdir} has none yet: run --mode=evaluate --workdir={workdir} first, or predict "
    "with --config.report.tune_logit_adjustment=False."
  )


def sample_printer(config, model, split: Split, edges: tuple[int, ...], steps_per_epoch: int):
  """on_epoch_end: every `report.sample_every_epochs` epochs, the tutorial's progress line
  `step pct% (time) loss name / guess ✓|✗ (truth)` for a random language's random name."""
  every = config.report.sample_every_epochs
  if not every:
    return None
  by_label = collections.defaultdict(list)
  for name, y in split.train:
    by_label[y].append(name)
  apply = jax.jit(model.apply)
  start = time.time()

  def on_epoch_end(params, epoch: int) -> None:
    if epoch % every:
      return
    rng = np.random.default_rng([config.seed, epoch])
    y = sorted(by_label)[rng.integers(len(by_label))]
    name = by_label[y][rng.integers(len(by_label[y]))]
    logp = np.asarray(apply(params, *pad_names([name], edges)))[0]
    guess = int(logp.argmax())
    mark = "✓" if guess == y else f"✗ ({split.labels[y]})"
    minutes, seconds = divmod(int(time.time() - start), 60)
    log.info(
      "%d %d%% (%dm %ds) %.4f %s / %s %s",
      epoch * steps_per_epoch,
      100 * epoch // config.train.num_epochs,
      minutes,
      seconds,
      -logp[y],
      name,
      split.labels[guess],
      mark,
    )

  return on_epoch_end


def predict(config, workdir: Path, names: Iterable[str], out=print) -> int:
  """Prints `> name` and the top-k `(logprob) language` lines per name; returns #predicted.

  Names are folded to ascii like the training data; one that is empty after
  folding gets a warning and the stream goes on.
  """
  from seq2seq_jax import train

  path = workdir / SPLIT_FILE
  if not path.exists():
    raise CheckpointError(
      f"{workdir} has no {SPLIT_FILE}: pass the --workdir of a trained classification run."
    )
  split = Split.load(path)
  labels = split.labels
  tau = logit_adjustment(config, workdir)
  if tau and not split.train:
    raise ConfigError(
      f"report.logit_adjustment={tau:g} divides out the training labels' frequencies, but "
      f"{path} holds no training names (the run was imported without its dataset): "
      "predict with report.logit_adjustment=0."
    )
  prior = log_prior(split.train, len(labels))
  model = make_model(config, len(labels))
  params = train.restore_params(
    model, init_args(config), config, workdir, train.decode_checkpoint(config)
  )
  apply = jax.jit(model.apply)
  edges = tuple(config.data.bucket_edges)
  k = min(config.report.topk, len(labels))
  done = 0
  for raw in names:
    raw = raw.strip()
    name = to_name_letters(raw)
    if not name:
      log.warning(
        '%r is empty after ascii folding (only a-z, A-Z and " .,;\'" are kept): skipped', raw
      )
      continue
    logp = adjust(np.asarray(apply(params, *pad_names([name], edges))), prior, tau)[0]
    out(f"> {raw}" + (f"  (as {name})" if name != raw else ""))
    for y in np.argsort(-logp, kind="stable")[:k]:
      out(f"({logp[y]:.2f}) {labels[y]}")
    done += 1
  return done


def serve(mode: str, config, workdir: Path, inputs: list[str]) -> None:
  """--mode=predict: names from the command line, else one per line on stdin."""
  names = inputs if inputs else (line for line in sys.stdin if line.strip())
  if not predict(config, workdir, names):
    raise DataError(
      "no name to classify: every input is empty after ascii folding (names are "
      'kept as the letters a-z, A-Z and " .,;\'"); pass a name in Latin letters.'
    )
