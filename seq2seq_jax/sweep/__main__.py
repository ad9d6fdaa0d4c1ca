"""python -m seq2seq_jax.sweep: run a sweep (or one shard of it), then write its report.

Flags: --config and --grid (repeatable), or --sweep=FILE; --seeds; --set=key=value
(repeatable: the same override in every cell, e.g. data.dir); --workdir (required);
--shard=i/n (this process runs every n-th run from the i-th: several machines, or a
cluster array job `--shard=$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`, split one
sweep with no coordinator); --report (only write the report of what has finished);
--dry_run (list the runs and their commands). Exit status: 0 every run of this shard
done, 1 some failed (the report lists them), 2 a bad sweep, 130 interrupted.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from absl import flags

from seq2seq_jax.cli import exit_on_user_error, setup_logging
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.sweep import report, runner, spec

# its own flag set: seq2seq_jax.cli (imported for its helpers) defines the main command's
FLAGS = flags.FlagValues()

_CONFIG = flags.DEFINE_string(
  "config", None, "Base config, configs/<name>.py[:arg].", flag_values=FLAGS
)
_GRID = flags.DEFINE_multi_string("grid", [], "key=v1,v2: one axis of the grid.", flag_values=FLAGS)
_SET = flags.DEFINE_multi_string(
  "set", [], "key=value: an override of every cell.", flag_values=FLAGS
)
_SEEDS = flags.DEFINE_integer(
  "seeds", 3, "Seeds per cell: the config's seed and the next ones.", flag_values=FLAGS
)
_SWEEP = flags.DEFINE_string(
  "sweep", None, "A sweep file (configs/sweeps/*.py) with get_sweep().", flag_values=FLAGS
)
_WORKDIR = flags.DEFINE_string("workdir", None, "The sweep directory.", flag_values=FLAGS)
_SHARD = flags.DEFINE_string(
  "shard", "0/1", "i/n: run every n-th run from the i-th.", flag_values=FLAGS
)
_REPORT = flags.DEFINE_bool(
  "report", False, "Only write the report of the finished runs.", flag_values=FLAGS
)
_DRY_RUN = flags.DEFINE_bool(
  "dry_run", False, "List the runs and their commands; run nothing.", flag_values=FLAGS
)

log = logging.getLogger("seq2seq_jax")


def parse_shard(text: str) -> tuple[int, int]:
  i, sep, n = text.partition("/")
  try:
    i, n = int(i), int(n)
  except ValueError:
    i = n = -1
  if not sep or n < 1 or not 0 <= i < n:
    raise ConfigError(f"--shard={text}: write i/n with 0 <= i < n (e.g. --shard=0/4).")
  return i, n


def build_sweep() -> spec.Sweep:
  """The sweep the flags describe (a file, or --config with --grid and --set)."""
  if _SWEEP.value and (_CONFIG.value or _GRID.value):
    raise ConfigError("pass either --sweep=FILE or --config with --grid, not both.")
  if _SWEEP.value:
    sweep = spec.load_sweep_file(_SWEEP.value)
    if _SET.value:
      fixed = tuple(spec.parse_grid([s]).popitem() for s in _SET.value)
      cells = tuple(
        spec.Cell(c.name, c.config, c.overrides + tuple((k, v[0]) for k, v in fixed))
        for c in sweep.cells
      )
      sweep = spec.Sweep(cells, sweep.seeds, sweep.baseline)
    return sweep
  if not _CONFIG.value:
    raise ConfigError("pass --config=configs/<name>.py[:arg] with --grid flags, or --sweep=FILE.")
  axes = spec.parse_grid(_GRID.value)
  fixed = {}
  for s in _SET.value:
    ((key, values),) = spec.parse_grid([s]).items()
    fixed[key] = ",".join(values)
  return spec.grid(_CONFIG.value, axes, seeds=_SEEDS.value, base=fixed)


def main(argv: list[str]) -> None:
  setup_logging()
  try:
    FLAGS(argv)
  except flags.Error as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  command = "python -m seq2seq_jax.sweep " + " ".join(shlex.quote(a) for a in sys.argv[1:])

  def go() -> None:
    if not _WORKDIR.value:
      raise ConfigError("--workdir is required: the sweep's directory.")
    workdir = Path(_WORKDIR.value)
    if _REPORT.value:
      sweep = spec.load(workdir)
      log.info("report: %s", report.write_report(sweep, workdir))
      return
    sweep = build_sweep()
    shard = parse_shard(_SHARD.value)
    spec.check(sweep)  # every cell's config, before any run starts
    if _DRY_RUN.value:
      for k, cell, seed in runner.selected(sweep, shard):
        print(
          k,
          cell.name,
          seed,
          " ".join(cell.flags(seed)),
          f"--workdir={runner.run_dir(workdir, cell, seed)}",
        )
      return
    spec.save_or_check(workdir, sweep)
    log.info(
      "sweep: %d cells x %d seeds in %s (shard %d/%d)",
      len(sweep.cells),
      len(sweep.seeds),
      workdir,
      *shard,
    )
    counts = runner.run_sweep(sweep, workdir, shard=shard)
    log.info(
      "runs: %d done, %d already done, %d failed",
      counts["done"],
      counts["skipped"],
      counts["failed"],
    )
    log.info("report: %s", report.write_report(sweep, workdir, command))
    if counts["failed"]:
      sys.exit(1)

  exit_on_user_error(go)


if __name__ == "__main__":
  main(sys.argv)
