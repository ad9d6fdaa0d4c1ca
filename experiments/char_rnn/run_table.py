"""Trains each char-RNN config on the names data and prints the results table (markdown).

  python experiments/char_rnn/run_table.py [--out=runs/char_rnn_table] [--chunk_steps=40000] \
      [default tutorial ...]

One `python -m seq2seq_jax.main` process per config, one at a time, each in
`<out>/<arg>/`. Batch-1 recipes are trained in resumable chunks of
`--chunk_steps` steps (the loop resumes exactly), so no single process runs
long on a shared machine. "train s" is the sum of the epochs' seconds (train
steps + validation, compiles included, checkpoint writes excluded); "wall s"
the processes' total, start-up and test report included.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ("tutorial", "tutorial_gru", "gru", "lstm", "bilstm", "balanced", "default")


def load_config(arg: str):
  spec = importlib.util.spec_from_file_location("char_rnn", ROOT / "configs" / "char_rnn.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def describe(c) -> str:
  m = c.model
  cell = {"tutorial": "tutorial i2h/i2o RNN", "gru": "GRU", "lstm": "LSTM", "srn": "SRN"}[m.cell]
  layers = f"{m.num_layers}-layer " if m.num_layers > 1 else ""
  bi = "bi-" if m.bidirectional else ""
  inp = "one-hot" if m.input == "onehot" else f"embed {m.embed_dim}"
  t = c.train
  sampling = "balanced" if t.sampling == "balanced" else "natural"
  return (
    f"{layers}{bi}{cell} {m.hidden}, {inp} | {t.optimizer} {t.learning_rate:g}, batch "
    f"{t.batch_size}, {sampling}"
  )


def records(workdir: Path) -> list[dict]:
  path = workdir / "metrics.jsonl"
  return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def train(arg: str, workdir: Path, chunk_steps: int) -> float:
  """Runs (or resumes) one config to the end; returns the processes' wall seconds."""
  c = load_config(arg)
  total = c.train.num_epochs * c.train.steps_per_epoch if c.train.sampling == "balanced" else 0
  # Stop mid-epoch: a stop on an epoch's last step would skip that epoch's validation.
  half = c.train.steps_per_epoch // 2
  stops = list(range(chunk_steps - half, total, chunk_steps)) if c.train.batch_size == 1 else []
  wall = 0.0
  for stop in [*stops, 0]:
    t0 = time.time()
    subprocess.run(
      [
        sys.executable,
        "-m",
        "seq2seq_jax.main",
        f"--config=configs/char_rnn.py:{arg}",
        f"--workdir={workdir}",
        f"--config.train.stop_after_steps={stop}",
      ],
      cwd=ROOT,
      check=True,
    )
    wall += time.time() - t0
  return wall


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("args", nargs="*", default=list(ARGS))
  p.add_argument("--out", default="runs/char_rnn_table")
  p.add_argument("--chunk_steps", type=int, default=40000)
  a = p.parse_args()
  rows = [
    "| config | model | params | epochs (best) | top-1 % | top-3 % | macro % | train s | wall s |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for arg in a.args:
    workdir = ROOT / a.out / arg
    if records(workdir) and records(workdir)[-1].get("split") == "test":
      wall = float("nan")  # already trained: report it, time unknown
    else:
      wall = train(arg, workdir, a.chunk_steps)
    *lines, test = records(workdir)
    epochs = [r for r in lines if "epoch" in r]  # not the step records
    model = describe(load_config(arg)).replace("|", "\\|")  # a table cell
    rows.append(
      f"| `{arg}` | {model} | {test['parameters']:,} | "
      f"{len(epochs)} ({test['best_epoch']}) | {test['top1_accuracy']:.1f} | "
      f"{test['top3_accuracy']:.1f} | {test['macro_accuracy']:.1f} | "
      f"{sum(r['seconds'] for r in epochs):.0f} | {wall:.0f} |"
    )
    print("\n".join(rows), flush=True)
  (ROOT / a.out / "table.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
  main()
