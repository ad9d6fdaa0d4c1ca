"""Orbax checkpoints: `latest` (for exact resume) and `best` (by the validation metric of
`train.select_by`), and with `train.keep_checkpoints=N` the params of the last N epochs
(`epochs`) and their mean (`averaged`, train/average.py).

A `latest` or `best` checkpoint holds the train state pytree (params, optimizer state, step,
rng) and a JSON `Meta` (best metric, history, the partial epoch's sums); an `epochs` or
`averaged` one the params alone and a small JSON (its epochs and steps). Saves are
synchronous and atomic: orbax writes to a temporary directory and renames it
only when complete, so a crash (kill -9, a full disk) never leaves a checkpoint that
looks valid, and the previous one is removed only after the new one is in place.
`latest` keeps the last two steps: a newest one that cannot be restored (damaged on
disk) falls back to the one before, and the run recomputes the steps in between.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from seq2seq_jax.errors import CheckpointError

logging.getLogger("absl").setLevel(logging.WARNING)
log = logging.getLogger("seq2seq_jax")


@dataclasses.dataclass
class Meta:
  """The run's bookkeeping stored beside the state in every checkpoint.

  best_value: the selection metric (`train.select_by`, validation) at `best_epoch` (None
  before the first epoch's evaluation);
  history: the metrics.jsonl lines so far, in order: one per finished epoch (with "epoch")
  and one every train.log_every_steps steps (with "step", no "epoch"); epoch_sums and
  epoch_seconds: the interrupted epoch's metric sums (`Sums.to_dict()`) and time so far;
  epoch_padded: its batches' padded positions so far (the epoch's `real_share`);
  log_window: the steps since the last step line (`StepWindow.to_dict()`: their sums,
  summed grad norm and count), so a resumed run's next step line is the uninterrupted one's;
  data_state: where a streamed training set stands mid-epoch (`StreamedDataset`'s
  `BatchIterator.get_state()`; None at an epoch's end and for in-memory data), so a resumed
  run reads on from there;
  stopped_early: the patience ran out; imported_from: the state_dict of an imported run;
  fingerprint: `fingerprint(state)` when saved, checked on restore (damage that still decodes).
  """

  best_value: float = float("inf")
  best_epoch: int | None = None
  history: list[dict] = dataclasses.field(default_factory=list)
  epoch_sums: dict | None = None
  epoch_seconds: float = 0.0
  epoch_padded: int = 0
  log_window: dict | None = None
  data_state: dict | None = None
  stopped_early: bool = False
  imported_from: str | None = None
  fingerprint: list[int] | None = None

  @classmethod
  def from_dict(cls, d: dict) -> Meta:
    known = {f.name for f in dataclasses.fields(cls)}
    if "best_valid_loss" in d:  # runs written before the selection metric had a name
      d = {"best_value": d["best_valid_loss"], **d}
    return cls(**{k: v for k, v in d.items() if k in known})


@jax.jit
def _leaf_sums(tree) -> list[jax.Array]:
  out = []
  for x in jax.tree.leaves(tree):
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if x.dtype != jnp.bool_:
      x = jax.lax.bitcast_convert_type(x, jnp.dtype(f"uint{x.dtype.itemsize * 8}"))
    out.append(jnp.sum(x.astype(jnp.uint32), dtype=jnp.uint32))
  return out


def fingerprint(state: Any) -> list[int]:
  """Per leaf, the wrapping uint32 sum of its elements' bit patterns (of each 16/32-bit
  word): exact, the same on any device count, and a flipped bit changes it. Orbax checks no
  checksums, so random bytes in an array file can restore as other numbers; this catches it."""
  return [int(x) for x in jax.device_get(_leaf_sums(state))]


class Checkpoints:
  """Orbax managers under `<workdir>/checkpoints/<which>`: latest keeps 2 steps, best 1,
  averaged 1, epochs `keep_epochs` (0: every one there; a training run passes
  train.keep_checkpoints). `latest` and `best` hold train states (`save`, `restore`),
  `epochs` and `averaged` params alone (`save_params`, `restore_params`).

  A context manager: `with Checkpoints(workdir) as ckpts:` closes the managers (their
  threads and pending writes) on every exit, an error's included.
  """

  KEEP = {"latest": 2, "best": 1, "averaged": 1}
  PARAMS_ONLY = ("epochs", "averaged")

  def __init__(self, workdir: str | Path, keep_epochs: int = 0):
    self.root = Path(workdir).absolute() / "checkpoints"
    self._keep = {**self.KEEP, "epochs": keep_epochs or None}
    self._managers: dict[str, ocp.CheckpointManager] = {}
    for which in ("latest", "best"):  # opened at once; epochs and averaged when first used
      self._manager(which)

  def _manager(self, which: str) -> ocp.CheckpointManager:
    if which not in self._managers:
      m = ocp.CheckpointManager(
        self.root / which,
        options=ocp.CheckpointManagerOptions(
          max_to_keep=self._keep[which],
          create=True,
          enable_async_checkpointing=False,
          cleanup_tmp_directories=True,  # a save killed half-way leaves a tmp dir: removed
        ),
      )
      # orbax removes the tmp dirs in a background thread; wait for it here, or a process
      # that exits soon after (an error, a translate run) prints that thread's traceback at
      # shutdown ("cannot schedule new futures after interpreter shutdown"). Private in
      # orbax 0.12.8.
      getattr(m, "_maybe_await_cleanup_tmp_directory", lambda: None)()
      self._managers[which] = m
    return self._managers[which]

  def __enter__(self) -> Checkpoints:
    return self

  def __exit__(self, *exc) -> None:
    self.close(quiet=exc[0] is not None)

  def steps(self, which: str) -> list[int]:
    """The kept steps of `which`, oldest first (none: [], and no directory is made)."""
    if which not in self._managers and not (self.root / which).is_dir():
      return []
    return sorted(self._manager(which).all_steps())

  def latest_step(self, which: str = "latest") -> int | None:
    steps = self.steps(which)
    return steps[-1] if steps else None

  def save(self, which: str, state: Any, meta: Meta) -> None:
    """Saves the train state `state` at its step (once per step); a failed write (a full
    disk...) raises a CheckpointError that says the previous checkpoint is intact."""
    step = int(jax.device_get(state.step))
    self._save(which, step, state, lambda fp: dataclasses.asdict(meta) | {"fingerprint": fp})

  def save_params(self, which: str, step: int, params: Any, info: dict) -> None:
    """Saves `params` alone (epochs, averaged) at `step`, with the JSON `info`."""
    self._save(which, step, params, lambda fp: {**info, "fingerprint": fp})

  def _save(self, which: str, step: int, tree: Any, meta_of) -> None:
    """Writes (tree, meta_of(fingerprint(tree))) at `step` unless that step is the newest."""
    m = self._manager(which)
    previous = m.latest_step()
    if previous == step:
      return
    meta = meta_of(fingerprint(tree))
    try:
      m.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)),
        force=True,
      )
      m.wait_until_finished()
    except Exception as e:  # OSError (ENOSPC, EIO...) or orbax's own wrappers of it
      kept = f"step {previous}, intact" if previous is not None else "none yet"
      raise CheckpointError(
        f"saving the {which} checkpoint at step {step} in {self.root / which} failed "
        f"({_why(e)}); the previous {which} checkpoint ({kept}) is kept: free disk "
        "space (or fix the file system) and run the same command again to resume."
      ) from e

  def restore(self, which: str, abstract_state: Any) -> tuple[Any, Meta]:
    """Restores (state, meta) of `latest` or `best` into the structure of `abstract_state`.

    The newest step first; when it cannot be restored but an older kept one can (the newest
    was damaged on disk), logs one warning, deletes the damaged step and returns the older.
    """
    state, meta = self._restore(which, abstract_state, self.steps(which)[::-1])
    return state, Meta.from_dict(meta)

  def restore_params(
    self, which: str, abstract_params: Any = None, step: int | None = None
  ) -> tuple[Any, dict]:
    """(params, info) of an `epochs` or `averaged` checkpoint: the newest, or `step`; into
    the structure of `abstract_params`, or as saved when None."""
    steps = self.steps(which)
    return self._restore(which, abstract_params, steps[-1:] if step is None else [step])

  def _restore(self, which: str, abstract: Any, steps: list[int]) -> tuple[Any, dict]:
    """The first of `steps` that restores; the ones before it are deleted with a warning."""
    if not steps:
      raise self.missing(which)
    m = self._manager(which)
    errors = []
    for step in steps:
      try:
        out = m.restore(
          step,
          args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
          ),
        )
        saved = out["meta"].get("fingerprint")
        if saved is not None and saved != fingerprint(out["state"]):
          raise ValueError("its arrays differ from what was saved (fingerprint mismatch)")
      except Exception as e:  # orbax raises many types for corrupt data
        errors.append((step, e))
        continue
      for bad, e in errors:
        log.warning(
          "warning: %s checkpoint %s cannot be restored (%s): deleted it, going on from step %d",
          which,
          self.root / which / str(bad),
          _why(e),
          step,
        )
        m.delete(bad)
      return out["state"], dict(out["meta"])
    step, e = errors[0]
    older = f" (nor can the older step {steps[1]})" if len(steps) > 1 else ""
    raise CheckpointError(
      f"checkpoint {self.root / which / str(step)} cannot be restored ({_why(e)}){older}. "
      "It is corrupt or truncated, or was written with another model config: run with the "
      "config it was trained with, or train again in a new --workdir."
    ) from e

  def missing(self, which: str) -> CheckpointError:
    """The error for a `which` checkpoint that is not there, saying what makes one."""
    return CheckpointError(f"no {which} checkpoint in {self.root / which}: {_HOW[which]}.")

  def close(self, quiet: bool = False) -> None:
    """Closes every manager; `quiet`: on the way out of an error, a second error from a
    manager (a failed save's leftovers) is logged, not raised over the first."""
    for m in self._managers.values():
      try:
        m.close()
      except Exception as e:
        if not quiet:
          raise
        log.debug("closing a checkpoint manager: %s", _why(e))


_TRAIN_FIRST = "train first with `python -m seq2seq_jax.main --config=... --workdir=<this dir>`"
_HOW = {  # what makes each kind of checkpoint, for the message when there is none
  "latest": _TRAIN_FIRST,
  "best": _TRAIN_FIRST,
  "epochs": "train with --config.train.keep_checkpoints=N (N >= 1) to keep the params of the "
  "last N epochs (a new run: the key cannot change on resume)",
  "averaged": "run `python -m seq2seq_jax.main --mode=average --workdir=<this run>` first (it "
  "averages the epochs kept by train.keep_checkpoints), or decode another checkpoint "
  "(--config.decode.checkpoint=best)",
}


def _why(e: Exception) -> str:
  """`Type: first line` of an exception, at most 200 characters of it."""
  first = str(e).splitlines()[0].split(" See full")[0][:200] if str(e) else ""
  return f"{type(e).__name__}: {first}" if first else type(e).__name__
