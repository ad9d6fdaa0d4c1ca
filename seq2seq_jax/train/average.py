"""Checkpoint averaging: the mean of the params kept at the end of the last epochs.

With `train.keep_checkpoints=N` a run keeps the params of its last N epochs in
`checkpoints/epochs/<step>`; `average_epochs` writes their leaf-wise mean as the `averaged`
checkpoint (at the newest epoch's step), which `--config.decode.checkpoint=averaged`
decodes. Training does it at its end; `--mode=average --workdir=RUN` does it for a run
(`average_run`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import rundir
from seq2seq_jax.train.checkpoint import Checkpoints
from seq2seq_jax.train.sharding import fetch

log = logging.getLogger("seq2seq_jax")


def mean_params(trees: Iterable[Any]) -> Any:
  """Leaf-wise mean of pytrees of one structure, summed in float64 and returned in each
  leaf's dtype (as numpy arrays)."""
  total, first, n = None, None, 0
  for tree in trees:
    tree = fetch(tree)  # replicated device arrays (any process count) as numpy
    wide = jax.tree.map(lambda x: np.asarray(x, np.float64), tree)
    total = wide if total is None else jax.tree.map(np.add, total, wide)
    first = tree if first is None else first
    n += 1
  if not n:
    raise ValueError("mean_params of no trees")
  return jax.tree.map(lambda s, x: (s / n).astype(np.asarray(x).dtype), total, first)


def average_epochs(ckpts: Checkpoints, keep: int = 0, like: Any = None) -> tuple[Any, dict]:
  """Saves the mean of the newest `keep` (0: all) epoch checkpoints' params as `averaged`.

  like: a params tree whose structure and shardings the epochs restore into and the mean
  takes (training: the replicated state's); None: as saved, on the default device.
  Returns (the averaged params, {"epochs": [...], "steps": [...]}); a run without epoch
  checkpoints is a CheckpointError naming train.keep_checkpoints.
  """
  steps = ckpts.steps("epochs")
  steps = steps[-keep:] if keep else steps
  if not steps:
    raise ckpts.missing("epochs")  # names train.keep_checkpoints
  epochs = []

  def restored():
    for step in steps:
      params, info = ckpts.restore_params("epochs", like, step)
      epochs.append(info["epoch"])
      yield params

  mean = mean_params(restored())
  if like is None:
    params = jax.tree.map(jnp.asarray, mean)
  else:
    params = jax.tree.map(lambda m, x: jax.device_put(m, x.sharding), mean, like)
  info = {"epochs": epochs, "steps": steps}
  ckpts.save_params("averaged", steps[-1], params, info)
  return params, info


def average_run(workdir: Path) -> dict:
  """--mode=average: averages the run's kept epochs (holding its lock: no training writes
  meanwhile); returns {"averaged_epochs": [...], "checkpoint": its path}."""
  config = rundir.load_config(workdir)
  keep = config.train.get("keep_checkpoints", 0)
  with rundir.RunLock(workdir).acquire(), Checkpoints(workdir) as ckpts:
    _, info = average_epochs(ckpts, keep)
  path = ckpts.root / "averaged" / str(info["steps"][-1])
  log.info("averaged the params of epochs %s into %s", info["epochs"], path)
  return {"averaged_epochs": info["epochs"], "checkpoint": str(path)}
