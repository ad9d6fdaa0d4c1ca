"""A sweep's report: report.md, report.csv and report.png in the sweep directory.

Per cell, every final test metric's mean ± std over seeds with its 95 % bootstrap interval
(`stats.seed_interval`); per non-baseline cell, the paired bootstrap test against the
baseline on the test set (`stats.paired_*`): BLEU and chrF of each search's hypotheses
(`hyp_test_<search>.txt` against `ref_test.txt`, with the BLEU tokenisation of the runs'
signature), or top-1 and macro accuracy of the classifier (`predictions_test.tsv`); runs
that failed, with their error line; and the cells' validation-loss curves overlaid. A
classifier sweep also gets each cell's logit-adjustment frontier (`frontier_table`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from pathlib import Path

import numpy as np

from seq2seq_jax.sweep import stats
from seq2seq_jax.sweep.runner import metrics_lines, run_dir, status_path, test_record
from seq2seq_jax.sweep.spec import Sweep

log = logging.getLogger("seq2seq_jax")

# test-line keys that are not quality metrics
_NOT_METRICS = re.compile(r"(seconds|per_second|parameters|best_epoch|_png|step|logit_adjustment)")
_HEADLINE = re.compile(r"(_bleu|_chrf|_ter|top1_accuracy|top3_accuracy|macro_accuracy)$")


def _metric_keys(records: list[dict]) -> list[str]:
  keys = []
  for r in records:
    for k, v in r.items():
      if k in keys or _NOT_METRICS.search(k) or isinstance(v, bool):
        continue
      if isinstance(v, (int, float)) and math.isfinite(v):
        keys.append(k)
  return keys


def _curve(rundir: Path, key: str = "valid_loss") -> list[tuple[int, float]]:
  return [
    (int(r["epoch"]), float(r[key])) for r in metrics_lines(rundir) if "epoch" in r and key in r
  ]


def _lines(path: Path) -> list[str]:
  return path.read_text(encoding="utf-8").split("\n")[:-1]


def _bleu_metric(signature: str | None):
  from sacrebleu.metrics import BLEU

  tok = re.search(r"tok:([^|]+)", signature or "")
  tokenize = tok.group(1) if tok else "13a"
  return BLEU(tokenize=tokenize, force=tokenize == "none")  # none: the runs' own tokens


REF_FILE = "ref_test.txt"
PREDICTIONS_FILE = "predictions_test.tsv"  # the classifier's per-example test predictions


def _paired_translation(sweep_runs, baseline: str, signature: str | None) -> list[dict]:
  from sacrebleu.metrics import CHRF

  base_dirs = sweep_runs[baseline]
  # Every cell scores the same test set: its references from any run that has them (a
  # study's committed runs leave the dataset's own text out of the repository).
  ref_files = [
    d / REF_FILE for dirs in sweep_runs.values() for d in dirs if (d / REF_FILE).exists()
  ]
  if not base_dirs or not ref_files:
    return []
  refs = _lines(ref_files[0])
  searches = sorted(
    p.name[len("hyp_test_") : -len(".txt")] for p in base_dirs[0].glob("hyp_test_*.txt")
  )
  hyps = lambda dirs, search: [
    _lines(d / f"hyp_test_{search}.txt") for d in dirs if (d / f"hyp_test_{search}.txt").exists()
  ]
  metrics = (("bleu", _bleu_metric(signature)), ("chrf", CHRF()))
  base_stats = {  # (search, metric) -> the baseline's statistics, once for every cell
    (search, name): (stats.corpus_stats(metric, base_h, refs), len(base_h))
    for search in searches
    if (base_h := hyps(base_dirs, search))
    for name, metric in metrics
  }
  rows = []
  for cell, dirs in sweep_runs.items():
    if cell == baseline or not dirs:
      continue
    for search in searches:
      sys_h = hyps(dirs, search)
      if not sys_h or (search, "bleu") not in base_stats:
        continue
      for name, metric in metrics:
        base, n_base = base_stats[search, name]
        r = stats.paired_corpus_test(metric, stats.corpus_stats(metric, sys_h, refs), base)
        rows.append(
          dict(cell=cell, metric=f"{search}_{name}", **vars(r), seeds=(len(sys_h), n_base))
        )
  return rows


def _predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
  """predictions_test.tsv -> (labels [N], correct [N] 0/1) in the test set's order."""
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))
  return np.array([r["label"] for r in rows]), np.array([int(r["correct"]) for r in rows])


def _paired_classification(sweep_runs, baseline: str) -> list[dict]:
  base = [d / PREDICTIONS_FILE for d in sweep_runs[baseline]]
  base = [p for p in base if p.exists()]
  if not base:
    return []
  labels = _predictions(base[0])[0]
  base_c = [_predictions(p)[1] for p in base]
  rows = []
  for cell, dirs in sweep_runs.items():
    files = [d / PREDICTIONS_FILE for d in dirs if (d / PREDICTIONS_FILE).exists()]
    if cell == baseline or not files:
      continue
    sys_c = [_predictions(p)[1] for p in files]
    for name, macro in (("top1_accuracy", False), ("macro_accuracy", True)):
      r = stats.paired_accuracy_test(sys_c, base_c, labels, macro=macro)
      rows.append(dict(cell=cell, metric=name, **vars(r), seeds=(len(sys_c), len(base_c))))
  return rows


def frontier_table(records: dict[str, dict[int, dict]]) -> list[str]:
  """Markdown: per classifier cell, test top-1 / macro (mean over seeds) of the predictions
  logit-adjusted by each tau of the runs' frontiers (tasks/classification.py), and the tau
  whose validation top-1 + macro (mean over seeds) is highest: chosen without the test set."""
  rows = []
  for cell, recs in records.items():
    fronts = [r["frontier"] for r in recs.values() if "validation" in r.get("frontier", {})]
    if not fronts or any("test" not in f for f in fronts):
      continue
    taus = [row["tau"] for row in fronts[0]["test"]]
    mean = lambda split, i, k, fronts=fronts: float(np.mean([f[split][i][k] for f in fronts]))
    valid = [
      mean("validation", i, "top1_accuracy") + mean("validation", i, "macro_accuracy")
      for i in range(len(taus))
    ]
    best = int(np.argmax(valid))
    cols = [
      f"{mean('test', i, 'top1_accuracy'):.1f} / {mean('test', i, 'macro_accuracy'):.1f}"
      for i in range(len(taus))
    ]
    cols[best] = f"**{cols[best]}**"
    rows.append(f"| {cell} | {len(fronts)} | {taus[best]:g} | " + " | ".join(cols) + " |")
  if not rows:
    return []
  return [
    "Logit adjustment after training (prediction: argmax of log p(y|x) - tau log prior(y), "
    "the prior being the training labels' frequencies): test top-1 / macro accuracy, mean "
    "over seeds; bold: the tau with the highest validation top-1 + macro (mean over seeds), "
    "chosen without the test set.",
    "",
    "| cell | seeds | tau (validation) | " + " | ".join(f"tau {t:g}" for t in taus) + " |",
    "|---" * (len(taus) + 3) + "|",
    *rows,
    "",
  ]


def collect(sweep: Sweep, workdir: Path):
  """-> ({cell: {seed: test record}}, {cell: [finished run dirs]}, [failed (cell, seed, error)])."""
  records, dirs, failed = {}, {}, []
  for cell in sweep.cells:
    records[cell.name], dirs[cell.name] = {}, []
    for seed in sweep.seeds:
      rd = run_dir(workdir, cell, seed)
      record = test_record(rd)
      if record is not None:
        records[cell.name][seed] = record
        dirs[cell.name].append(rd)
        continue
      sp = status_path(workdir, cell, seed)
      if sp.exists():
        status = json.loads(sp.read_text())
        if status.get("status") == "failed":
          failed.append((cell.name, seed, status.get("error", "")))
  return records, dirs, failed


def _wall(status: dict) -> str:
  """'1234.5', '1234.5 (3)' for a run that took 3 invocations, '≥ 1234.5 (2)' where the
  status says its earlier invocations' seconds were not recorded ("lower_bound")."""
  seconds, n = status.get("seconds", "–"), status.get("invocations", 1)
  wall = f"≥ {seconds}" if status.get("lower_bound") else str(seconds)
  return f"{wall} ({n})" if n > 1 else wall


def write_report(sweep: Sweep, workdir: Path, command: str = "") -> Path:
  """Writes report.md, report.csv and report.png; returns the markdown's path."""
  records, dirs, failed = collect(sweep, workdir)
  all_records = [r for cell in records.values() for r in cell.values()]
  keys = _metric_keys(all_records)
  order = ("top1_accuracy", "top3_accuracy", "macro_accuracy", "_bleu", "_chrf", "_ter")
  rank = lambda k: (
    k.startswith("averaged_"),
    next(i for i, o in enumerate(order) if k.endswith(o)),
  )
  headline = sorted((k for k in keys if _HEADLINE.search(k)), key=rank) or keys
  intervals = {
    cell: {
      k: stats.seed_interval([r[k] for r in recs.values() if k in r])
      for k in keys
      if any(k in r for r in recs.values())
    }
    for cell, recs in records.items()
    if recs
  }
  notes: list[str] = []
  task = "classification" if any("top1_accuracy" in r for r in all_records) else "translation"
  others = any(d for cell, d in dirs.items() if cell != sweep.baseline)
  if task == "translation":
    signature = next(
      (r.get("bleu_signature") for r in all_records if r.get("bleu_signature")), None
    )
    paired = _paired_translation(dirs, sweep.baseline, signature)
    has_refs = any((d / REF_FILE).exists() for ds in dirs.values() for d in ds)
    if dirs[sweep.baseline] and others and not has_refs:
      notes.append(
        f"No paired test: no finished run here holds its {REF_FILE} (the test references; a "
        "study's committed runs leave the dataset's text out). Any run this sweep finishes "
        "writes them, and so does `python -m seq2seq_jax.main --mode=evaluate` on a run "
        "with its checkpoint."
      )
  else:
    signature = None
    paired = _paired_classification(dirs, sweep.baseline)
    missing = [d for ds in dirs.values() for d in ds if not (d / PREDICTIONS_FILE).exists()]
    if missing and others:
      notes.append(
        f"No paired test for {len(missing)} run(s) without {PREDICTIONS_FILE} (the test "
        "names and their predictions; a study's committed runs leave the dataset's names "
        "out), e.g. " + str(missing[0]) + ". `python -m seq2seq_jax.main --mode=evaluate "
        "--workdir=RUN` on a run with its checkpoint writes it."
      )

  md = [f"# Sweep report: {workdir}", ""]
  if command:
    md += ["```bash", command, "```", ""]
  md += [
    f"{len(sweep.cells)} cells x seeds {', '.join(map(str, sweep.seeds))}; baseline "
    f"`{sweep.baseline}`. Each entry: mean ± std over seeds [95 % bootstrap interval of the "
    "mean over seeds]; test-set metrics of each run's selected checkpoint.",
    "",
  ]
  if signature:
    md += [f"BLEU signature: `{signature}`", ""]
  md += ["| cell | seeds | " + " | ".join(headline) + " |", "|---" * (len(headline) + 2) + "|"]
  for cell in sweep.cells:
    iv = intervals.get(cell.name, {})
    name = f"**{cell.name}** (baseline)" if cell.name == sweep.baseline else cell.name
    cols = [iv[k].text() if k in iv else "–" for k in headline]
    md.append(
      f"| {name} | {len(records[cell.name])}/{len(sweep.seeds)} | " + " | ".join(cols) + " |"
    )
  md.append("")
  if paired:
    md += [
      f"Paired bootstrap against `{sweep.baseline}` on the test set ({stats.RESAMPLES} "
      "resamples of its sentences/examples; each side's score is its mean over seeds; "
      "p: two-sided):",
      "",
      "| cell | metric | Δ vs baseline | 95 % interval of Δ | p | seeds (cell, baseline) |",
      "|---|---|---|---|---|---|",
    ]
    for r in paired:
      md.append(
        f"| {r['cell']} | {r['metric']} | {r['delta']:+.2f} | [{r['low']:+.2f}, {r['high']:+.2f}] "
        f"| {_p_text(r['p'])} | {r['seeds'][0]}, {r['seeds'][1]} |"
      )
    md.append("")
  if task == "classification":
    md += frontier_table({c.name: records[c.name] for c in sweep.cells})
  for note in notes:
    md += [note, ""]
  if failed:
    md += ["Failed runs (the others went on):", "", "| cell | seed | error |", "|---|---|---|"]
    md += [f"| {c} | {s} | {e.replace('|', '/')} |" for c, s, e in failed]
    md.append("")
  missing = [
    (c.name, s)
    for c in sweep.cells
    for s in sweep.seeds
    if s not in records[c.name] and (c.name, s) not in {(f[0], f[1]) for f in failed}
  ]
  if missing:
    md += [f"Not finished yet: {', '.join(f'{c} seed {s}' for c, s in missing)}.", ""]
  md += [
    "Per-seed values (wall s: the run's commands, start-up to test report, on its machine,"
    " summed over the invocations an interrupted run took, their count in brackets;"
    " ≥ where only the last one's was recorded):",
    "",
    "| cell | seed | " + " | ".join(headline) + " | best epoch | wall s |",
    "|---" * (len(headline) + 4) + "|",
  ]
  for cell in sweep.cells:
    for seed, r in sorted(records[cell.name].items()):
      sp = status_path(workdir, cell, seed)
      wall = _wall(json.loads(sp.read_text())) if sp.exists() else "–"
      cols = [f"{r[k]:.2f}" if k in r else "–" for k in headline]
      best = r.get("best_epoch", "–")
      md.append(f"| {cell.name} | {seed} | " + " | ".join(cols) + f" | {best} | {wall} |")
  md += ["", "![curves](report.png)", ""]
  (workdir / "report.md").write_text("\n".join(md))

  paired_by = {(r["cell"], r["metric"]): r for r in paired}
  with open(workdir / "report.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(
      [
        "cell",
        "metric",
        "seeds",
        "mean",
        "std",
        "low",
        "high",
        "delta",
        "delta_low",
        "delta_high",
        "p",
      ]
    )
    for cell in sweep.cells:
      for k, iv in intervals.get(cell.name, {}).items():
        pr = paired_by.get((cell.name, k))
        w.writerow(
          [cell.name, k, iv.n, iv.mean, iv.std, iv.low, iv.high]
          + ([pr["delta"], pr["low"], pr["high"], pr["p"]] if pr else ["", "", "", ""])
        )
  _plot(sweep, workdir, intervals, headline)
  return workdir / "report.md"


def _p_text(p: float) -> str:
  """The smallest p a bootstrap of B resamples can give is 1 / (B + 1)."""
  return (
    f"≤ {1 / (stats.RESAMPLES + 1):.4f}" if p <= 1 / (stats.RESAMPLES + 1) + 1e-12 else f"{p:.4f}"
  )


def _plot(sweep: Sweep, workdir: Path, intervals, headline: list[str]) -> None:
  """Left: each cell's mean validation loss per epoch (band: min-max over seeds); right:
  the first headline metric's mean per cell with its bootstrap interval."""
  from seq2seq_jax.plots import plt

  fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
  for cell in sweep.cells:
    curves = [_curve(run_dir(workdir, cell, s)) for s in sweep.seeds]
    curves = [c for c in curves if c]
    if not curves:
      continue
    n = min(len(c) for c in curves)
    ys = np.array([[y for _, y in c[:n]] for c in curves])
    xs = [x for x, _ in curves[0][:n]]
    line = ax.plot(xs, ys.mean(0), label=f"{cell.name} ({len(curves)})")[0]
    ax.fill_between(xs, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
  ax.set_xlabel("epoch")
  ax.set_ylabel("validation loss")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  if headline:
    key = headline[0]
    names = [c.name for c in sweep.cells if key in intervals.get(c.name, {})]
    ivs = [intervals[n][key] for n in names]
    means = [i.mean for i in ivs]
    err = [[m - i.low for m, i in zip(means, ivs)], [i.high - m for m, i in zip(means, ivs)]]
    bx.bar(range(len(names)), means, yerr=err, capsize=4, color="tab:blue", alpha=0.7)
    bx.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    if means:
      lo = min(i.low for i in ivs)
      hi = max(i.high for i in ivs)
      pad = max(hi - lo, 1e-6) * 0.3
      bx.set_ylim(lo - pad, hi + pad)
    bx.set_ylabel(f"test {key} (mean over seeds, 95 % interval)")
    bx.grid(alpha=0.3, axis="y")
  fig.tight_layout()
  fig.savefig(workdir / "report.png", dpi=110)
  plt.close(fig)
