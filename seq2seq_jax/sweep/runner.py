"""Runs a sweep's cells x seeds, one `python -m seq2seq_jax.main` process at a time.

A run whose metrics.jsonl has its test line is done and skipped; any other one is
(re)started with the same command, which resumes it from its latest checkpoint. A run
that fails is recorded as failed with its error line and the sweep goes on. Ctrl-C or
SIGTERM reaches the running child (it saves a checkpoint and exits); the sweep then stops:
the same command resumes it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from seq2seq_jax.rundir import write_text
from seq2seq_jax.sweep.spec import Cell, Sweep

log = logging.getLogger("seq2seq_jax")


def run_dir(workdir: Path, cell: Cell, seed: int) -> Path:
  return workdir / cell.name / f"seed_{seed}"


def status_path(workdir: Path, cell: Cell, seed: int) -> Path:
  return workdir / cell.name / f"seed_{seed}.status.json"


def metrics_lines(rundir: Path) -> list[dict]:
  """The records of the run's metrics.jsonl (none while it has no file; a torn line skipped)."""
  path = rundir / "metrics.jsonl"
  if not path.exists():
    return []
  out = []
  for line in path.read_text().splitlines():
    try:
      out.append(json.loads(line))
    except json.JSONDecodeError:
      continue
  return out


def test_record(rundir: Path) -> dict | None:
  """The run's latest test metrics, None until training wrote its test line: a later
  `--mode=evaluate` line (marked "mode": "evaluate") updates them, never finishes a run."""
  lines = [r for r in metrics_lines(rundir) if r.get("split") == "test"]
  trained = [r for r in lines if r.get("mode") != "evaluate"]
  if not trained:
    return None
  return {**trained[-1], **lines[-1]}  # training's own keys (best_epoch, ...) kept


def _error_line(log_path: Path) -> str:
  """The child's `error: ...` line, else its last non-empty line."""
  lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
  errors = [ln for ln in lines if ln.startswith("error:")]
  return (errors or lines or ["(no output)"])[-1][:500]


def _write_status(path: Path, status: dict) -> None:
  write_text(path, json.dumps(status) + "\n")


def _earlier(path: Path) -> tuple[float, int]:
  """(seconds, invocations) the run's earlier, interrupted or failed, invocations took."""
  try:
    status = json.loads(path.read_text())
  except (OSError, json.JSONDecodeError):
    return 0.0, 0
  return float(status.get("seconds", 0.0)), int(status.get("invocations", 1))


def selected(sweep: Sweep, shard: tuple[int, int]) -> list[tuple[int, Cell, int]]:
  """(index, cell, seed) of the runs this shard (i, n) owns: every n-th, from the i-th."""
  i, n = shard
  return [(k, c, s) for k, (c, s) in enumerate(sweep.runs()) if k % n == i]


def run_sweep(sweep: Sweep, workdir: Path, *, shard=(0, 1), extra_flags=()) -> dict[str, int]:
  """Runs this shard's unfinished runs; returns counts of done / skipped / failed."""
  mine = selected(sweep, shard)
  counts = {"done": 0, "skipped": 0, "failed": 0}
  for n, (_, cell, seed) in enumerate(mine, 1):
    rundir = run_dir(workdir, cell, seed)
    where = f"[{n}/{len(mine)}] {cell.name} seed {seed}"
    if test_record(rundir) is not None:
      log.info("%s: done already, skipped", where)
      counts["skipped"] += 1
      continue
    rundir.parent.mkdir(parents=True, exist_ok=True)
    log_path = rundir.parent / f"seed_{seed}.log"
    cmd = [
      sys.executable,
      "-m",
      "seq2seq_jax.main",
      *cell.flags(seed),
      f"--workdir={rundir}",
      *extra_flags,
    ]
    log.info("%s: %s", where, " ".join(cmd[1:]))
    sp = status_path(workdir, cell, seed)
    before, invocations = _earlier(sp)
    t0 = time.time()
    rc = _run_child(cmd, log_path)
    seconds = round(before + time.time() - t0, 1)  # over every invocation of the run
    times = {"seconds": seconds, "invocations": invocations + 1}
    if rc == 130:  # interrupted: the child saved a checkpoint
      _write_status(sp, {"status": "interrupted", **times})
      log.info("%s: interrupted; run the same sweep command to resume", where)
      raise KeyboardInterrupt
    record = test_record(rundir)
    if rc == 0 and record is not None:
      _write_status(sp, {"status": "done", **times})
      n = times["invocations"]
      log.info("%s: done in %.0f s (%d invocation%s)", where, seconds, n, "s" * (n > 1))
      counts["done"] += 1
    else:
      error = _error_line(log_path) if rc else "stopped before its test report"
      _write_status(sp, {"status": "failed", "returncode": rc, "error": error, **times})
      log.warning("%s: FAILED (exit %d): %s (log: %s)", where, rc, error, log_path)
      counts["failed"] += 1
  return counts


def _run_child(cmd: list[str], log_path: Path) -> int:
  """Runs cmd with its output appended to log_path; SIGTERM to us goes on to it."""
  with open(log_path, "a") as out:
    out.write(f"\n$ {' '.join(cmd)}\n")
    out.flush()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    def forward(signum, _frame):
      child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
      while True:
        try:
          return child.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the child too (same process group)
          continue
    finally:
      signal.signal(signal.SIGTERM, previous)
