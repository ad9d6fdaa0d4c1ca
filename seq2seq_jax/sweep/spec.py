"""What a sweep is: cells (a config and its overrides) x seeds, each an ordinary run directory.

From the command line, a base config and `--grid=key=v1,v2` flags (their cartesian
product); or a sweep file under `configs/sweeps/` whose `get_sweep()` returns a `Sweep`
(built with `grid(...)` or `cells(...)` here), so a study is code with its command in its
docstring. Every cell is checked before any run starts: each override is parsed by the same
ml_collections flag parser `seq2seq_jax.main` uses (an unknown key or a value of the wrong
type is refused, naming it), then the whole config by `config.validate`.

Layout of a sweep directory:
  <workdir>/sweep.json                  the sweep (cells, seeds, baseline)
  <workdir>/<cell>/seed_<s>/            one run directory per cell and seed
  <workdir>/<cell>/seed_<s>.log         that run's output
  <workdir>/<cell>/seed_<s>.status.json {"status": "done"|"failed"|"interrupted", "error": ...,
                                         "seconds": wall s over all its invocations,
                                         "invocations": how many commands it took}
  <workdir>/report.{md,csv,png}         `--report`
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from seq2seq_jax.config.validate import validate
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.rundir import write_text

SWEEP_FILE = "sweep.json"


@dataclasses.dataclass(frozen=True)
class Cell:
  """One recipe: `config` (configs/x.py[:arg]) with `overrides` ((key, value text), ...)."""

  name: str
  config: str
  overrides: tuple[tuple[str, str], ...] = ()

  def flags(self, seed: int) -> list[str]:
    """The command-line flags of this cell's run with `seed`."""
    return [
      f"--config={self.config}",
      *(f"--config.{k}={v}" for k, v in self.overrides),
      f"--config.seed={seed}",
    ]


@dataclasses.dataclass(frozen=True)
class Sweep:
  """Cells x seeds; `baseline` names the cell every other one is tested against."""

  cells: tuple[Cell, ...]
  seeds: tuple[int, ...]
  baseline: str

  def __post_init__(self):
    names = [c.name for c in self.cells]
    if not names:
      raise ConfigError("a sweep needs at least one cell.")
    if len(set(names)) != len(names):
      raise ConfigError(f"two cells share a name: {names}.")
    if self.baseline not in names:
      raise ConfigError(f"baseline {self.baseline!r} is not a cell; cells: {', '.join(names)}.")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds):
      raise ConfigError(f"seeds must be distinct and at least one: {self.seeds}.")

  def runs(self) -> list[tuple[Cell, int]]:
    """Every (cell, seed), seeds outermost: the first seed of every cell comes first, so
    an interrupted sweep has one seed of each cell before it has three of any."""
    return [(c, s) for s in self.seeds for c in self.cells]

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: Mapping) -> Sweep:
    cells = tuple(
      Cell(c["name"], c["config"], tuple(tuple(o) for o in c["overrides"])) for c in d["cells"]
    )
    return cls(cells, tuple(d["seeds"]), d["baseline"])


def _value_text(v) -> str:
  """A Python value as the flag text ml_collections parses back to it."""
  if isinstance(v, str):
    return v
  if isinstance(v, (tuple, list)):
    return "(" + ",".join(_value_text(x) for x in v) + ("," if len(v) == 1 else "") + ")"
  return repr(v)


def _short_names(keys: Sequence[str]) -> list[str]:
  """model.norm, train.label_smoothing -> norm, label_smoothing (full keys where ambiguous)."""
  last = [k.rsplit(".", 1)[-1] for k in keys]
  return [s if last.count(s) == 1 else k for s, k in zip(last, keys)]


def grid(
  config: str,
  axes: Mapping[str, Sequence],
  *,
  seeds: int | Sequence[int] = 3,
  base: Mapping[str, object] | None = None,
  baseline: str | None = None,
) -> Sweep:
  """The cartesian product of `axes` ({key: values}) over `config` (+ `base` overrides).

  Cells are named `norm=pre,label_smoothing=0.1` (the keys' last parts where unique);
  the baseline is the first cell unless named. `seeds`: a count (the config's seed and
  the next ones) or the seeds themselves.
  """
  keys = list(axes)
  short = _short_names(keys)
  fixed = tuple((k, _value_text(v)) for k, v in (base or {}).items())
  cells = []
  for values in itertools.product(*(axes[k] for k in keys)):
    texts = [_value_text(v) for v in values]
    name = ",".join(f"{s}={t}" for s, t in zip(short, texts)) or "base"
    cells.append(Cell(name.replace("/", "_"), config, fixed + tuple(zip(keys, texts))))
  return Sweep(tuple(cells), _seeds(seeds, cells[0]), baseline or cells[0].name)


def cells(
  recipes: Mapping[str, tuple[str, Mapping[str, object]] | str],
  *,
  seeds: int | Sequence[int] = 3,
  baseline: str | None = None,
) -> Sweep:
  """Named recipes: {name: config or (config, {key: value})}; the baseline is the first."""
  out = []
  for name, recipe in recipes.items():
    config, over = (recipe, {}) if isinstance(recipe, str) else recipe
    out.append(Cell(name, config, tuple((k, _value_text(v)) for k, v in over.items())))
  return Sweep(tuple(out), _seeds(seeds, out[0]), baseline or out[0].name)


def _seeds(seeds: int | Sequence[int], first: Cell) -> tuple[int, ...]:
  if isinstance(seeds, int):
    if seeds < 1:
      raise ConfigError(f"--seeds={seeds}: give at least 1.")
    base = int(load_cell_config(first, None).seed)
    return tuple(range(base, base + seeds))
  return tuple(int(s) for s in seeds)


def parse_grid(texts: Sequence[str]) -> dict[str, list[str]]:
  """["model.norm=post,pre", ...] -> {"model.norm": ["post", "pre"], ...}; a tuple value
  is written in parentheses: `decode.eval_beam_sizes=(4,),(4,8)`."""
  axes: dict[str, list[str]] = {}
  for text in texts:
    key, sep, values = text.partition("=")
    key = key.strip().removeprefix("config.")
    if not sep or not key or not values:
      raise ConfigError(
        f"--grid={text}: write --grid=key=value1,value2 (e.g. model.norm=post,pre)."
      )
    if key in axes:
      raise ConfigError(f"--grid names {key} twice.")
    axes[key] = _split_values(values)
  return axes


def _split_values(text: str) -> list[str]:
  """Splits at top-level commas: "1,(4,8),3" -> ["1", "(4,8)", "3"]."""
  out, depth, cur = [], 0, ""
  for ch in text:
    depth += ch in "([" and 1 or (ch in ")]" and -1 or 0)
    if ch == "," and depth == 0:
      out.append(cur)
      cur = ""
    else:
      cur += ch
  return [*out, cur]


def load_sweep_file(path: str) -> Sweep:
  """A sweep file's `get_sweep()`."""
  if not Path(path).is_file():
    raise ConfigError(f"sweep file {path!r} not found: pass --sweep=configs/sweeps/<name>.py.")
  spec = importlib.util.spec_from_file_location("_sweep_file", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"{path} has no get_sweep(): it must return a seq2seq_jax.sweep.Sweep.")
  sweep = module.get_sweep()
  if not isinstance(sweep, Sweep):
    raise ConfigError(f"{path}: get_sweep() returned {type(sweep).__name__}, not a Sweep.")
  return sweep


def load_cell_config(cell: Cell, seed: int | None):
  """The cell's config, parsed from its flags exactly as `seq2seq_jax.main` would, or a
  ConfigError naming the override that is unknown or of the wrong type."""
  argv = ["sweep", *(cell.flags(seed) if seed is not None else cell.flags(0)[:-1])]
  fv = flags.FlagValues()  # overrides become flags only for the argv named here
  config_flags.DEFINE_config_file(
    "config", None, "", flag_values=fv, lock_config=True, sys_argv=argv
  )
  path = cell.config.partition(":")[0]
  if not Path(path).is_file():
    raise ConfigError(f"cell {cell.name}: config file {path!r} not found.")
  try:
    fv(argv)
    config = fv.config
    config.get("task")
  except Exception as e:
    raise ConfigError(f"cell {cell.name}: {_override_problem(cell, e)}") from None
  return config


def _override_problem(cell: Cell, err: Exception) -> str:
  """Which of the cell's overrides the parser refused, in one sentence."""
  from seq2seq_jax.cli import _explain_flag_error

  return _explain_flag_error(["sweep", *cell.flags(0)[:-1]], err)


def check(sweep: Sweep) -> None:
  """Refuses the sweep before any run starts if any cell's config is not valid."""
  for cell in sweep.cells:
    config = load_cell_config(cell, sweep.seeds[0])
    try:
      validate(config)
    except ConfigError as e:
      raise ConfigError(f"cell {cell.name}: {e}") from None


def save_or_check(workdir: Path, sweep: Sweep) -> None:
  """Writes sweep.json, or refuses a workdir that holds another sweep."""
  path = workdir / SWEEP_FILE
  if path.exists():
    saved = Sweep.from_json(json.loads(path.read_text()))
    if saved != sweep:
      raise ConfigError(
        f"{workdir} holds another sweep (cells {[c.name for c in saved.cells]}, seeds "
        f"{list(saved.seeds)}): pass the same grid and seeds to resume it, or a new --workdir."
      )
    return
  workdir.mkdir(parents=True, exist_ok=True)
  write_text(path, json.dumps(sweep.to_json(), indent=2) + "\n")


def load(workdir: Path) -> Sweep:
  path = workdir / SWEEP_FILE
  if not path.exists():
    raise ConfigError(f"{workdir} is not a sweep directory (no {SWEEP_FILE}).")
  return Sweep.from_json(json.loads(path.read_text()))
