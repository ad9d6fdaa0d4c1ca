"""Command line: train, evaluate, translate.

  python -m seq2seq_jax.main --config=configs/transformer.py [--config.a.b=value] [--workdir=DIR]
  python -m seq2seq_jax.main --mode=evaluate  --workdir=DIR
  python -m seq2seq_jax.main --mode=translate --workdir=DIR "ein mann ." ...   (or lines on stdin)

A user error (bad data, config, checkpoint) prints one line `error: ...` and
exits with status 2, without a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from seq2seq_jax.errors import CheckpointError, ConfigError, UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/<config name>).")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "evaluate", "translate"], "What to do.")

log = logging.getLogger("seq2seq_jax")
CONFIG_FILE = "config.json"


def _setup_logging() -> None:
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter("%(message)s"))
  log.handlers[:] = [handler]
  log.setLevel(logging.INFO)
  log.propagate = False
  for noisy in ("absl", "jax", "orbax", "tensorflow_datasets", "matplotlib"):
    logging.getLogger(noisy).setLevel(logging.ERROR)


def default_workdir() -> Path:
  spec = flags.FLAGS["config"].config_filename if hasattr(flags.FLAGS["config"],
                                                          "config_filename") else None
  raw = sys.argv and next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--config=")), "")
  spec = spec or raw
  path, _, arg = spec.partition(":")
  name = Path(path).stem + (f"_{arg}" if arg else "")
  return Path("runs") / name


def load_run_config(workdir: Path) -> ml_collections.ConfigDict:
  path = workdir / CONFIG_FILE
  if not path.exists():
    raise CheckpointError(f"{workdir} is not a seq2seq_jax run (no {CONFIG_FILE}): pass the "
                          "--workdir of a trained run, or train one first.")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def _check_config(config) -> None:
  if config.get("task") != "translation":
    raise ConfigError(f"unknown task {config.get('task')!r}; known: translation.")


def run(mode: str, config, workdir: Path, sentences: list[str]) -> None:
  import jax

  jax.config.update("jax_threefry_partitionable", True)
  from seq2seq_jax import train, translation

  if mode == "train":
    if config is None:
      raise ConfigError("--config is required to train, e.g. --config=configs/transformer.py")
    _check_config(config)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2) + "\n")
    log.info("work directory: %s", workdir.absolute())
    task = translation.build_task(config, workdir)
    result = train.train_and_evaluate(task, config, workdir)
    log.info("result: %s", json.dumps(result, default=str))
    return

  saved = load_run_config(workdir)
  if config is not None:  # only decoding settings may change after training
    saved.decode = config.decode
  config = saved
  _check_config(config)
  if mode == "evaluate":
    task = translation.build_task(config, workdir)
    params = train.restore_params(task.model, task.init_args, config, workdir)
    result = train.evaluate_split(task, params, "test")
    log.info("result: %s", json.dumps(result, default=str))
  elif mode == "translate":
    src_vocab, tgt_vocab = translation.vocabs_for(config, workdir, None)
    model = translation.make_model(config, src_vocab, tgt_vocab)
    params = train.restore_params(model, translation.init_args(config), config, workdir)
    lines = sentences if sentences else sys.stdin
    n = translation.translate(config, workdir, params, model, src_vocab, tgt_vocab, lines,
                              out=lambda s: print(s, flush=True))
    if n == 0:
      raise UserError("nothing to translate: give sentences as arguments or on stdin.")


def main(argv: list[str]) -> None:
  _setup_logging()
  workdir = Path(_WORKDIR.value) if _WORKDIR.value else default_workdir()
  try:
    run(_MODE.value, _CONFIG.value, workdir, argv[1:])
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
