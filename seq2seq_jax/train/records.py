"""The run's metric records: `<workdir>/metrics.jsonl`, and TensorBoard events on request.

Three kinds of record, one JSON line each (train/loop.py writes them):

  {"step": N, "lr": ..., "grad_norm": ..., "loss": ..., "tokens_per_second": ...,
   "steps_per_second": ..., "real_share": ...}  every train.log_every_steps steps (no "epoch")
  {"epoch": E, "step": N, "seconds": ..., "train_loss": ..., "train_real_share": ...,
   "valid_loss": ..., ...}

(`real_share`: real / padded target positions of those batches, for tasks with
`Task.padded`; the epoch line also has the training's `train_<units>_per_second`.)
  {"split": "test", ...}                     the final test report, last

With train.tensorboard=True the same numbers go to a `tensorboardX.SummaryWriter` in
`<workdir>/tensorboard/`, tagged `step/<key>`, `epoch/<key>` and `test/<key>`, at the
record's training step. `reset(history)` rewrites both from a checkpoint's history on
every start, so a resumed run's records are the uninterrupted run's. Only the main process
writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.train.sharding import is_main_process

TENSORBOARD_DIR = "tensorboard"


def kind(record: dict) -> str:
  """step | epoch | test: which of the three records `record` is."""
  return "test" if "split" in record else "epoch" if "epoch" in record else "step"


class Records:
  """metrics.jsonl plus, with `tensorboard`, the same scalars as TensorBoard events.

  A context manager: closing it flushes the event file.
  """

  def __init__(self, workdir: Path, tensorboard: bool = False):
    self.path = workdir / "metrics.jsonl"
    self.main = is_main_process()
    self._tb_dir = workdir / TENSORBOARD_DIR if tensorboard and self.main else None
    self._writer = None

  def __enter__(self) -> Records:
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def reset(self, history: list[dict]) -> None:
    """Rewrites metrics.jsonl (atomically) and the event file with `history` alone: drops
    what a killed run wrote after its checkpoint."""
    if not self.main:
      return
    tmp = self.path.with_name(self.path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in history))
    tmp.replace(self.path)
    if self._tb_dir is not None:
      self.close()
      self._tb_dir.mkdir(exist_ok=True)
      for old in self._tb_dir.glob("events.out.tfevents.*"):
        old.unlink()
      self._writer = _summary_writer(self._tb_dir)
      for record in history:
        self._scalars(record, record["step"])

  def add(self, record: dict, step: int | None = None) -> None:
    """Appends `record`; its events at `step` (default: its own "step")."""
    if not self.main:
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    self._scalars(record, record["step"] if step is None else step)

  def _scalars(self, record: dict, step: int) -> None:
    if self._writer is None:
      return
    tag = kind(record)
    for key, value in record.items():
      if key not in ("step", "epoch") and _is_number(value):
        self._writer.add_scalar(f"{tag}/{key}", value, step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _summary_writer(logdir: Path):
  """A tensorboardX writer whose first event purges what TensorBoard already loaded of this
  run (purge_step=0), since the replayed history replaces it."""
  try:
    from tensorboardX import SummaryWriter
  except ImportError:
    raise ConfigError(
      "train.tensorboard=True needs tensorboardX: pip install tensorboardX==2.6.5 (in "
      "requirements.txt), or set --config.train.tensorboard=False."
    ) from None
  return SummaryWriter(str(logdir), purge_step=0)
