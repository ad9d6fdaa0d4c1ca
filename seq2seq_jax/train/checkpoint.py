"""Orbax checkpoints: `latest` (for exact resume) and `best` (by the task's validation metric).

Each checkpoint holds the train state pytree (params, optimizer state, step,
rng) and a JSON `Meta` (best metric, history, the partial epoch's sums). Saves are
synchronous and atomic: orbax writes to a temporary directory and renames it
only when complete, so a crash never leaves a checkpoint that looks valid.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from seq2seq_jax.errors import CheckpointError

logging.getLogger("absl").setLevel(logging.WARNING)


@dataclasses.dataclass
class Meta:
  """The run's bookkeeping stored beside the state in every checkpoint.

  best_value: the task's selection metric (`Task.selects`, validation) at `best_epoch`;
  history: one record per finished epoch (the metrics.jsonl lines); epoch_sums and
  epoch_seconds: the interrupted epoch's metric sums (`Sums.to_dict()`) and time so far;
  stopped_early: the patience ran out; imported_from: the state_dict of an imported run.
  """

  best_value: float = float("inf")
  best_epoch: int | None = None
  history: list[dict] = dataclasses.field(default_factory=list)
  epoch_sums: dict | None = None
  epoch_seconds: float = 0.0
  stopped_early: bool = False
  imported_from: str | None = None

  @classmethod
  def from_dict(cls, d: dict) -> Meta:
    known = {f.name for f in dataclasses.fields(cls)}
    if "best_valid_loss" in d:  # runs written before `Task.selects`
      d = {"best_value": d["best_valid_loss"], **d}
    return cls(**{k: v for k, v in d.items() if k in known})


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

  def save(self, which: str, state: Any, meta: Meta) -> None:
    m = self._managers[which]
    step = int(jax.device_get(state.step))
    if m.latest_step() == step:
      return
    m.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dataclasses.asdict(meta))
      ),
      force=True,
    )
    m.wait_until_finished()

  def restore(self, which: str, abstract_state: Any) -> tuple[Any, Meta]:
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
    return out["state"], Meta.from_dict(dict(out["meta"]))

  def close(self) -> None:
    for m in self._managers.values():
      m.close()
