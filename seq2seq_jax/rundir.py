"""A run directory is a contract: one training process at a time, and the config it was
trained with.

`open_run(workdir, config)` takes the run's lock (an `flock` on `<workdir>/.lock`, which
the kernel releases when the holder dies, so a killed run never leaves it stuck), then
compares `config` with the run's saved `config.json`: only the keys in `RESUMABLE` may
change on resume; any other change is refused before anything is written, naming each
key (old -> new) and the ways out. A key the saved config lacks (a run saved before the key
existed) counts as unchanged while the new value is its default (config/defaults.py). Then
it writes `config.json` (atomically).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import ml_collections

from seq2seq_jax.config.data import PIPELINE, SUBWORDS
from seq2seq_jax.config.defaults import DECODE, TRAIN
from seq2seq_jax.errors import CheckpointError, ConfigError, UserError

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"

# Keys that may differ between a run's saved config and the command that resumes it: they
# change how long it trains, how often it logs or saves, where the raw data lives and how
# it decodes, never the model, the data it sees or the optimisation. A key ending in "."
# stands for its whole block.
RESUMABLE = (
  "train.num_epochs",
  "train.stop_after_steps",
  "train.early_stop_patience",
  "train.log_every_steps",
  "train.tensorboard",
  "train.checkpoint_every_steps",
  "train.eval_batch_size",
  "data.dir",
  "data.cache_dir",
  "data.download",
  "data.workers",  # grain's prefetch processes: the batches do not depend on them
  "decode.",
)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}} -> {"a.b": 1}; tuples as lists (as config.json holds them)."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
  return out


def resumable(key: str) -> bool:
  return any(key == r or (r.endswith(".") and key.startswith(r)) for r in RESUMABLE)


ABSENT = "<absent>"
# What a saved config lacking a key had (data: the keys added to every translation config).
DEFAULTS = flatten({"train": TRAIN, "decode": DECODE, "data": {**PIPELINE, **SUBWORDS}})


def changes(saved: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
  """(key, saved value, new value) of every key that differs; ABSENT where missing."""
  a, b = flatten(saved), flatten(new)
  return [
    (k, a.get(k, ABSENT), b.get(k, ABSENT))
    for k in sorted(set(a) | set(b))
    if a.get(k, ABSENT) != b.get(k, ABSENT)
  ]


def _new_default(key: str, old: Any, new: Any) -> bool:
  """A key added to the code since the run was saved, at its default: no change."""
  return old == ABSENT and key in DEFAULTS and new == DEFAULTS[key]


def check_compatible(workdir: Path, saved: dict[str, Any], new: dict[str, Any]) -> None:
  """Refuses a resume whose config changes any key outside RESUMABLE (a key the saved
  config lacks, now at its default, is no change)."""
  refused = [c for c in changes(saved, new) if not resumable(c[0]) and not _new_default(*c)]
  if refused:
    shown = "; ".join(f"{k}: {old!r} -> {new_!r}" for k, old, new_ in refused[:8])
    more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
    raise ConfigError(
      f"{workdir} holds a run trained with another config: {shown}{more}. Nothing was "
      "written. Train it in a new --workdir (add --init_from="
      f"{workdir} to start from its weights), or resume it with only these keys changed: "
      f"{', '.join(RESUMABLE)}."
    )


class RunLock:
  """An exclusive lock on a run directory held for the life of a training process."""

  def __init__(self, workdir: Path):
    self.path = workdir / LOCK_FILE
    self._file = None

  def acquire(self) -> RunLock:
    f = open(self.path, "a+")  # noqa: SIM115 (held until release)
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "another process"
      f.close()
      raise UserError(
        f"{self.path.parent} is in use by {holder}: wait for it to finish or stop it, or "
        "train in another --workdir."
      ) from None
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    self._file = f
    return self

  def release(self) -> None:
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None

  def __enter__(self) -> RunLock:
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def load_config(workdir: Path):
  """The saved config of the run in `workdir` (for evaluate, translate, --init_from)."""
  path = workdir / CONFIG_FILE
  if not path.exists():
    raise CheckpointError(
      f"{workdir} is not a seq2seq_jax run (no {CONFIG_FILE}): pass the "
      "--workdir of a trained run, or train one first."
    )
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def write_config(workdir: Path, config) -> None:
  """config.json, atomically (a temporary file renamed over it)."""
  write_text(workdir / CONFIG_FILE, config.to_json_best_effort(indent=2) + "\n")


@contextlib.contextmanager
def atomic_files(paths: Mapping[str, str | os.PathLike]) -> Iterator[dict[str, BinaryIO]]:
  """Opens a temporary file beside each of `paths` ({name: path}) for binary writing and
  yields {name: file}; when the block ends without error it renames every one over its path
  (a reader never sees half a file), and on any exit it leaves no temporary file behind."""
  tmp = {k: f"{os.fspath(p)}.{os.getpid()}.tmp" for k, p in paths.items()}
  try:
    with contextlib.ExitStack() as stack:
      yield {k: stack.enter_context(open(t, "wb")) for k, t in tmp.items()}
    for k, p in paths.items():
      os.replace(tmp[k], p)
  finally:
    for t in tmp.values():
      Path(t).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
  """Writes UTF-8 `text` atomically (a temporary file beside it, renamed over it), so a
  reader never sees half a file; a path that cannot be written is one UserError."""
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  try:
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
  except OSError as e:
    tmp.unlink(missing_ok=True)
    raise UserError(
      f"cannot write {path} ({e.strerror}): pass a path in an existing, writable directory."
    ) from None


def open_run(workdir: Path, config, lock: bool = True) -> contextlib.AbstractContextManager:
  """Locks `workdir` for training with `config` and saves the config there; refuses a
  directory that another process trains in or whose saved config is incompatible.
  lock=False (the other processes of a multi-host run): only makes sure the directory
  exists; process 0 holds the lock and writes the config."""
  workdir.mkdir(parents=True, exist_ok=True)
  if not lock:
    return contextlib.nullcontext()
  held = RunLock(workdir).acquire()
  try:
    path = workdir / CONFIG_FILE
    if path.exists():
      try:
        saved = json.loads(path.read_text())
      except json.JSONDecodeError as e:
        raise ConfigError(
          f"{path} is not valid JSON ({e}): restore it, or train in a new --workdir."
        ) from None
      check_compatible(workdir, saved, json.loads(config.to_json_best_effort()))
    write_config(workdir, config)
  except BaseException:
    held.release()
    raise
  return held


def copy_run_files(
  source: Path, workdir: Path, names: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
  """--init_from: the source run's vocabularies (or split) into a new run, so that token
  and label ids mean what they meant for its weights, and those of the `optional` files it
  has (sentencepiece models); files already there are kept."""
  load_config(source)  # a clear error when `source` is not a run
  for name in (*optional, *names):
    if not (workdir / name).exists():
      if not (source / name).exists():
        if name in optional:
          continue
        raise CheckpointError(f"--init_from={source} has no {name}: is it a run of this task?")
      shutil.copyfile(source / name, workdir / name)
