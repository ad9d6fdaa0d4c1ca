"""Orbax checkpoints: `latest` (for exact resume) and `best` (by validation loss).

Each checkpoint holds the train state pytree (params, optimizer state, step,
rng) and a JSON `meta` dict (epoch, best metric, history). Saves are
synchronous and atomic: orbax writes to a temporary directory and renames it
only when complete, so a crash never leaves a checkpoint that looks valid.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from seq2seq_jax.errors import CheckpointError

logging.getLogger("absl").setLevel(logging.WARNING)


class Checkpoints:
  """Two single-slot orbax managers under `<workdir>/checkpoints/{latest,best}`."""

  def __init__(self, workdir: str | Path):
    self.root = Path(workdir).absolute() / "checkpoints"
    opts = ocp.CheckpointManagerOptions(
      max_to_keep=1, create=True, enable_async_checkpointing=False
    )
    self._managers = {
      name: ocp.CheckpointManager(self.root / name, options=opts) for name in ("latest", "best")
    }

  def latest_step(self, which: str = "latest") -> int | None:
    return self._managers[which].latest_step()

  def save(self, which: str, state: Any, meta: dict) -> None:
    m = self._managers[which]
    step = int(jax.device_get(state.step))
    if m.latest_step() == step:
      return
    m.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    m.wait_until_finished()

  def restore(self, which: str, abstract_state: Any) -> tuple[Any, dict]:
    """Restores (state, meta) into the structure of `abstract_state`."""
    m = self._managers[which]
    step = m.latest_step()
    if step is None:
      raise CheckpointError(
        f"no {which} checkpoint in {self.root / which}: train first with "
        "`python -m seq2seq_jax.main --config=... --workdir=<this dir>`."
      )
    try:
      out = m.restore(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
        ),
      )
    except Exception as e:  # orbax raises many types for corrupt data
      raise CheckpointError(
        f"checkpoint {self.root / which / str(step)} cannot be restored "
        f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
        f"It is corrupt or truncated, or was written with another model config: delete "
        "that directory to fall back to the other checkpoint, or train again."
      ) from e
    return out["state"], dict(out["meta"])

  def close(self) -> None:
    for m in self._managers.values():
      m.close()
