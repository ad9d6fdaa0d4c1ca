"""Orbax checkpoints: `latest` (for exact resume) and `best` (by the task's validation metric).

Each checkpoint holds the train state pytree (params, optimizer state, step,
rng) and a JSON `Meta` (best metric, history, the partial epoch's sums). Saves are
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

  best_value: the task's selection metric (`Task.selects`, validation) at `best_epoch`;
  history: one record per finished epoch (the metrics.jsonl lines); epoch_sums and
  epoch_seconds: the interrupted epoch's metric sums (`Sums.to_dict()`) and time so far;
  stopped_early: the patience ran out; imported_from: the state_dict of an imported run;
  fingerprint: `fingerprint(state)` when saved, checked on restore (damage that still decodes).
  """

  best_value: float = float("inf")
  best_epoch: int | None = None
  history: list[dict] = dataclasses.field(default_factory=list)
  epoch_sums: dict | None = None
  epoch_seconds: float = 0.0
  stopped_early: bool = False
  imported_from: str | None = None
  fingerprint: list[int] | None = None

  @classmethod
  def from_dict(cls, d: dict) -> Meta:
    known = {f.name for f in dataclasses.fields(cls)}
    if "best_valid_loss" in d:  # runs written before `Task.selects`
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
  """Orbax managers under `<workdir>/checkpoints/{latest,best}`: latest keeps 2 steps, best 1.

  A context manager: `with Checkpoints(workdir) as ckpts:` closes the managers (their
  threads and pending writes) on every exit, an error's included.
  """

  KEEP = {"latest": 2, "best": 1}

  def __init__(self, workdir: str | Path):
    self.root = Path(workdir).absolute() / "checkpoints"
    self._managers = {
      name: ocp.CheckpointManager(
        self.root / name,
        options=ocp.CheckpointManagerOptions(
          max_to_keep=keep,
          create=True,
          enable_async_checkpointing=False,
          cleanup_tmp_directories=True,  # a save killed half-way leaves a tmp dir: removed
        ),
      )
      for name, keep in self.KEEP.items()
    }
    # orbax removes the tmp dirs in a background thread; wait for it here, or a process that
    # exits soon after (an error, a translate run) prints that thread's traceback at shutdown
    # ("cannot schedule new futures after interpreter shutdown"). Private in orbax 0.12.8.
    for m in self._managers.values():
      getattr(m, "_maybe_await_cleanup_tmp_directory", lambda: None)()

  def __enter__(self) -> Checkpoints:
    return self

  def __exit__(self, *exc) -> None:
    self.close(quiet=exc[0] is not None)

  def latest_step(self, which: str = "latest") -> int | None:
    return self._managers[which].latest_step()

  def save(self, which: str, state: Any, meta: Meta) -> None:
    """Saves `state` at its step (once per step); a failed write (a full disk...) raises a
    CheckpointError that says the previous checkpoint is intact."""
    m = self._managers[which]
    step = int(jax.device_get(state.step))
    previous = m.latest_step()
    if previous == step:
      return
    meta = dataclasses.replace(meta, fingerprint=fingerprint(state))
    try:
      m.save(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dataclasses.asdict(meta))
        ),
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
    """Restores (state, meta) into the structure of `abstract_state`.

    The newest step first; when it cannot be restored but an older kept one can (the newest
    was damaged on disk), logs one warning, deletes the damaged step and returns the older.
    """
    m = self._managers[which]
    steps = sorted(m.all_steps(), reverse=True)
    if not steps:
      raise CheckpointError(
        f"no {which} checkpoint in {self.root / which}: train first with "
        "`python -m seq2seq_jax.main --config=... --workdir=<this dir>`."
      )
    errors = []
    for step in steps:
      try:
        out = m.restore(
          step,
          args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
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
      return out["state"], Meta.from_dict(dict(out["meta"]))
    step, e = errors[0]
    older = f" (nor can the older step {steps[1]})" if len(steps) > 1 else ""
    raise CheckpointError(
      f"checkpoint {self.root / which / str(step)} cannot be restored ({_why(e)}){older}. "
      "It is corrupt or truncated, or was written with another model config: run with the "
      "config it was trained with, or train again in a new --workdir."
    ) from e

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


def _why(e: Exception) -> str:
  """`Type: first line` of an exception, at most 200 characters of it."""
  first = str(e).splitlines()[0].split(" See full")[0][:200] if str(e) else ""
  return f"{type(e).__name__}: {first}" if first else type(e).__name__
