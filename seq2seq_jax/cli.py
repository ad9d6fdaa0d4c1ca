"""The command line: flags, dispatch to a task's modes, and one-line error messages.

`python -m seq2seq_jax.main` runs `main` here; other entry points (the PyTorch import,
`python -m seq2seq_jax.interop`) reuse the public helpers: `setup_logging`, `parse_flags`,
`config_value`, `workdir_value`, `exit_on_user_error` (the run directory's files: rundir.py).


  python -m seq2seq_jax.main --config=configs/transformer.py [--config.a.b=value] [--workdir=DIR]
  python -m seq2seq_jax.main --mode=evaluate  --workdir=DIR   (--config=F --config.decode.*=...)
                             (decode.* and report.* may differ from the run's: not training's)
  python -m seq2seq_jax.main --mode=evaluate  --workdir=DIR --test_src=FILE --test_ref=FILE
                             [--test_name=NAME]        (any parallel test set; translation runs)
  python -m seq2seq_jax.main --mode=average   --workdir=DIR   (runs with train.keep_checkpoints)
  python -m seq2seq_jax.main --mode=translate --workdir=DIR "ein mann ." ...   (or lines on stdin)
  python -m seq2seq_jax.main --mode=translate --workdir=DIR --input=FILE --output=FILE
                             [--nbest_output=FILE]     (a file in batches, line for line)
  python -m seq2seq_jax.main --mode=predict   --workdir=DIR Hinton Schmidhuber  (classifier runs)

--mode=evaluate --test_src/--test_ref (or decode.test_src/test_ref; the flags win) scores
the best checkpoint on that test set as the test report does and writes
hyp_<NAME>_<search>.txt, ref_<NAME>.txt, src_<NAME>.txt and a `{"split": NAME, ...}` line
of metrics.jsonl (NAME: --test_name, else the source file's name before its first dot).
--mode=translate --input writes the best translation of each line to --output and the
decode.nbest best to --nbest_output (`id ||| hypothesis ||| score`, id the 0-based line).

A user error (bad data, config, checkpoint, a NaN loss) prints one line `error: ...` and
exits with status 2, without a traceback. Exit status: 0 done (train.stop_after_steps
included), 2 a user error, 130 interrupted (SIGINT/SIGTERM: after saving a checkpoint).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

import ml_collections
from absl import flags
from ml_collections import config_flags

from seq2seq_jax import rundir
from seq2seq_jax.config.validate import validate
from seq2seq_jax.errors import ConfigError, UserError

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (configs/*.py[:arg]).", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/<config name>).")
_MODE = flags.DEFINE_enum(
  "mode",
  "train",
  ["train", "evaluate", "average", "translate", "predict"],
  "What to do. average: write the mean of the params of the epochs a run kept "
  "(train.keep_checkpoints) as its `averaged` checkpoint (decode.checkpoint=averaged).",
)
_DISTRIBUTED = flags.DEFINE_bool(
  "distributed",
  False,
  "Multi-host: call jax.distributed.initialize() before anything "
  "touches devices; run the same command on every host. The cluster (TPU pod, SLURM, Open "
  "MPI, ...) is auto-detected, or pass the three flags below.",
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", None, "--distributed: host:port of process 0."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "--distributed: process count.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "--distributed: this process's index.")

_INIT_FROM = flags.DEFINE_string(
  "init_from",
  None,
  "Train: start a new run from the best weights of the run in this directory (its "
  "vocabularies or split too), with a fresh optimiser, step 0 and no best-so-far. Used only "
  "while the workdir has no checkpoint: rerunning the command resumes.",
)

_TEST_SRC = flags.DEFINE_string(
  "test_src",
  None,
  "Evaluate: the source side of a parallel test set (UTF-8, one sentence a line) to score "
  "instead of the run's test split, with --test_ref (default: decode.test_src).",
)
_TEST_REF = flags.DEFINE_string(
  "test_ref", None, "Evaluate: the references of --test_src, line for line (decode.test_ref)."
)
_TEST_NAME = flags.DEFINE_string(
  "test_name",
  None,
  "Evaluate: the test set's name in its files (hyp_<name>_<search>.txt) and its "
  "metrics.jsonl line (decode.test_name; default --test_src's file name before its first "
  "dot: newstest2014.de -> newstest2014).",
)
_INPUT = flags.DEFINE_string(
  "input",
  None,
  "Translate: a UTF-8 file, one sentence a line, translated in batches to --output and/or "
  "--nbest_output (line for line).",
)
_OUTPUT = flags.DEFINE_string(
  "output", None, "Translate --input: the best translation of each line, one a line."
)
_NBEST_OUTPUT = flags.DEFINE_string(
  "nbest_output",
  None,
  "Translate --input: the decode.nbest best translations of each line, Moses format "
  "`id ||| hypothesis ||| score` (id: the 0-based input line).",
)

log = logging.getLogger("seq2seq_jax")

SPLIT_NAMES = ("train", "validation", "test")  # the run's own splits: not an external set's name


def setup_logging() -> None:
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter("%(message)s"))
  log.handlers[:] = [handler]
  log.setLevel(logging.INFO)
  log.propagate = False
  for noisy in ("absl", "jax", "orbax", "tensorflow_datasets", "matplotlib"):
    logging.getLogger(noisy).setLevel(logging.ERROR)
  sys.unraisablehook = _quiet_closed_loops(sys.unraisablehook)


def _quiet_closed_loops(hook):
  """An unraisable-exception hook that drops the noise of a failed orbax restore: when one
  array fails (a damaged file, another model's shapes), orbax closes its event loop while
  TensorStore still completes the other reads; each completion raises into the closed loop
  ("Event loop is closed"), and the abandoned read coroutines are collected with their
  errors pending. The restore's own error is what the user is told (or its fallback's
  warning); any other unraisable exception still reaches `hook`."""

  def from_orbax(tb) -> bool:
    while tb is not None:
      if "/orbax/checkpoint/" in tb.tb_frame.f_code.co_filename:
        return True
      tb = tb.tb_next
    return False

  def quiet(unraisable) -> None:
    e = unraisable.exc_value
    if isinstance(e, RuntimeError) and str(e) == "Event loop is closed":
      return
    if from_orbax(unraisable.exc_traceback):
      return
    hook(unraisable)

  return quiet


def default_workdir() -> Path:
  spec = (
    flags.FLAGS["config"].config_filename
    if hasattr(flags.FLAGS["config"], "config_filename")
    else None
  )
  raw = sys.argv and next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--config=")), "")
  spec = spec or raw
  path, _, arg = spec.partition(":")
  name = Path(path).stem + (f"_{arg}" if arg else "")
  return Path("runs") / name


# task name -> module with build_task(config, workdir) -> train.Task, and
# serve(mode, config, workdir, inputs, **file_options()) for its own modes (translate,
# predict); translation also has evaluate_files(config, workdir, src, ref, name).
TASKS = {
  "translation": "seq2seq_jax.tasks.translation",
  "classification": "seq2seq_jax.tasks.classification",
  "tagging": "seq2seq_jax.tasks.tagging",
}  # per-step labels: the SRN toy (configs/srn_hello.py)
TASK_MODES = {"translation": ("translate",), "classification": ("predict",), "tagging": ()}


def task_module(config):
  """The module of config's task, once `validate(config)` found every key in its range."""
  validate(config)
  name = config.get("task")
  if name not in TASKS:
    raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}.")
  return importlib.import_module(TASKS[name])


def external_test_set(config) -> tuple[Path, Path, str] | None:
  """--test_src, --test_ref, --test_name (else their decode.* keys; flags win) as
  (source, references, name), None when neither file is given."""
  decode = config.get("decode") or {}
  src = _TEST_SRC.value or decode.get("test_src", "")
  ref = _TEST_REF.value or decode.get("test_ref", "")
  if not src and not ref:
    return None
  if not (src and ref):
    raise ConfigError(
      "--test_src and --test_ref go together: pass both sides of the test set, e.g. "
      "--test_src=newstest2014.de --test_ref=newstest2014.en."
    )
  name = _TEST_NAME.value or decode.get("test_name", "") or Path(src).name.split(".")[0]
  if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name in SPLIT_NAMES:
    raise ConfigError(
      f"test set name {name!r} (from --test_name or --test_src's file name) must be letters, "
      f"digits, '_', '-', '.' and none of {', '.join(SPLIT_NAMES)}: pass --test_name=NAME."
    )
  return Path(src), Path(ref), name


def file_options() -> dict[str, Path]:
  """--input, --output, --nbest_output (those given) as serve()'s keyword arguments."""
  given = dict(input_path=_INPUT.value, output=_OUTPUT.value, nbest_output=_NBEST_OUTPUT.value)
  return {k: Path(v) for k, v in given.items() if v}


def check_mode_flags(mode: str) -> None:
  """Flags of one mode given to another: a ConfigError naming them."""
  for wanted, given in (
    ("evaluate", [f for f in (_TEST_SRC, _TEST_REF, _TEST_NAME) if f.value]),
    ("translate", [f for f in (_INPUT, _OUTPUT, _NBEST_OUTPUT) if f.value]),
  ):
    if given and mode != wanted:
      names = ", ".join(f"--{f.name}" for f in given)
      raise ConfigError(f"{names}: options of --mode={wanted}, not of --mode={mode}.")


def run(mode: str, config, workdir: Path, inputs: list[str]) -> None:
  check_mode_flags(mode)
  blocker = next((p for p in (workdir, *workdir.parents) if p.exists()), None)
  if blocker is not None and not blocker.is_dir():
    raise ConfigError(
      f"--workdir={workdir}: {blocker} is a file; pass a directory (new or a run's)."
    )
  import jax

  if _DISTRIBUTED.value:  # before the first device use (data parallel over every host's devices)
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  jax.config.update("jax_threefry_partitionable", True)
  from seq2seq_jax import train

  if mode == "train":
    if config is None:
      raise ConfigError("--config is required to train, e.g. --config=configs/transformer.py")
    module = task_module(config)
    init_from = Path(_INIT_FROM.value) if _INIT_FROM.value else None
    with rundir.open_run(workdir, config, lock=jax.process_index() == 0):
      log.info("work directory: %s", workdir.absolute())
      if init_from is not None:
        optional = getattr(module, "OPTIONAL_RUN_FILES", ())
        rundir.copy_run_files(init_from, workdir, module.RUN_FILES, optional)
      task = module.build_task(config, workdir)
      result = train.train_and_evaluate(task, config, workdir, init_from=init_from)
    log.info("result: %s", json.dumps(result, default=str))
    if result.get("interrupted"):  # SIGINT/SIGTERM, after saving: 128 + SIGINT
      sys.exit(130)
    return

  if mode == "average":  # needs neither the model nor the data: the saved params alone
    result = train.average_run(workdir)
    log.info("result: %s", json.dumps(result, default=str))
    return
  saved = rundir.load_config(workdir)
  for section in ("decode", "report"):  # decoding and report settings may change after training
    if config is not None and section in config:
      saved[section] = config[section]
  config = saved
  module = task_module(config)
  if mode == "evaluate":
    test_set = external_test_set(config)
    if test_set is not None:
      if not hasattr(module, "evaluate_files"):
        raise ConfigError(
          f"--test_src/--test_ref score translation runs; {workdir} is a {config.task} run: "
          "evaluate it with --mode=evaluate alone."
        )
      result = module.evaluate_files(config, workdir, *test_set)
    else:
      task = module.build_task(config, workdir)
      which = train.decode_checkpoint(config)
      params = train.restore_params(task.model, task.init_args, config, workdir, which)
      result = train.evaluate_split(task, params, "test")
      # recorded as a later evaluation of the test split (a sweep's report reads the latest)
      train.append_metrics(
        workdir, {"split": "test", "mode": "evaluate", "checkpoint": which, **result}
      )
    log.info("result: %s", json.dumps(result, default=str))
  elif mode in TASK_MODES[config.task]:
    module.serve(mode, config, workdir, inputs, **file_options())
  else:
    raise ConfigError(
      f"--mode={mode} does not apply to a {config.task} run; use one of: "
      f"{', '.join(('train', 'evaluate', 'average', *TASK_MODES[config.task]))}."
    )


def _explain_flag_error(argv: list[str], err: Exception) -> str:
  """Turns an absl / ml_collections parsing failure into one actionable sentence."""
  spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if spec:
    path, _, arg = spec.partition(":")
    if not Path(path).is_file():
      return f"config file {path!r} not found: pass --config=configs/<name>.py[:arg]."
    try:
      module_spec = importlib.util.spec_from_file_location("_user_config", path)
      module = importlib.util.module_from_spec(module_spec)
      module_spec.loader.exec_module(module)
      base = module.get_config(arg) if arg else module.get_config()
    except Exception as e:  # a broken config file
      return f"config {spec!r} cannot be loaded ({type(e).__name__}: {e})."
    for a in argv:
      if not a.startswith("--config."):
        continue
      key, _, value = a[len("--config.") :].partition("=")
      node, parts = base, key.split(".")
      for i, part in enumerate(parts):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
          where = ".".join(parts[:i]) or "the top level"
          options = (
            ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else ""
          )
          return f"unknown config key {key!r} in {a}: {where} has no {part!r}" + (
            f" (it has: {options})." if options else "."
          )
        node = node[part]
      try:
        type(node)(value) if not isinstance(node, (tuple, list, bool)) else None
      except (TypeError, ValueError):
        return (
          f"wrong type for --config.{key}={value}: it must be of type "
          f"{type(node).__name__}, like {node!r}."
        )
  override = next((a.split("=", 1)[0] for a in argv if a.startswith("--config.")), None)
  if not spec and override:
    return (
      f"{override} overrides a key of a config file, but no --config=FILE was given: pass the "
      "config file too, e.g. --config=configs/transformer.py (on a trained run, evaluate, "
      "translate and predict take only its decode.* and report.* keys)."
    )
  return f"bad command line: {str(err).splitlines()[0] if str(err) else type(err).__name__}"


def parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # any parsing failure becomes one readable line
    print(f"error: {_explain_flag_error(argv, e)}", file=sys.stderr)
    sys.exit(2)


def config_value():
  """The loaded config; ml_collections defers file errors to this first access."""
  try:
    config = _CONFIG.value
    if config is not None:
      config.get("task")  # a failed load surfaces only on first use
    return config
  except Exception as e:
    print(f"error: {_explain_flag_error(sys.argv, e)}", file=sys.stderr)
    sys.exit(2)


def workdir_value() -> Path | None:
  """--workdir as a Path, None when not given."""
  return Path(_WORKDIR.value) if _WORKDIR.value else None


def exit_on_user_error(fn: Callable[[], None]) -> None:
  """Runs fn; a `UserError` becomes one `error: ...` line on stderr and exit status 2, an
  abort (a second Ctrl-C, which does not wait for a save) one line and status 130."""
  try:
    fn()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print(
      "error: interrupted; run the same command to resume from the last checkpoint", file=sys.stderr
    )
    sys.exit(130)


def main(argv: list[str]) -> None:
  setup_logging()
  workdir = workdir_value() or default_workdir()
  exit_on_user_error(lambda: run(_MODE.value, config_value(), workdir, argv[1:]))
