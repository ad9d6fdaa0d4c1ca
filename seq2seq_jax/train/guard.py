"""What stops a run cleanly: a stop request (SIGINT/SIGTERM) and a non-finite loss or state.

Neither costs a host sync per step: the stop request is a Python flag, and the loss is
checked where the loop already fetches it (the progress bar's log interval, a checkpoint
save, the epoch's end), so nothing non-finite is ever saved over a good checkpoint.
"""

from __future__ import annotations

import logging
import math
import signal

import jax
import jax.numpy as jnp

from seq2seq_jax.errors import TrainingError

log = logging.getLogger("seq2seq_jax")


class Interrupt:
  """Turns SIGTERM/SIGINT into a flag checked between steps, so a stop saves first."""

  def __init__(self):
    self.requested = False
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not in the main thread
        pass
    return self

  def _handle(self, signum, frame):
    if self.requested:  # second Ctrl-C: give up at once
      raise KeyboardInterrupt
    self.requested = True
    log.warning("stop requested: saving a checkpoint after this step (Ctrl-C again to abort)")

  def release(self):
    """Back to the previous handlers (a Ctrl-C then aborts at once, as outside training)."""
    for sig, handler in self._old.items():
      signal.signal(sig, handler)
    self._old = {}

  def __exit__(self, *exc):
    self.release()


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves])) if leaves else True


def _raise(what: str, step: int, last_good: int | None) -> None:
  good = f"step {last_good}" if last_good is not None else "none yet"
  raise TrainingError(
    f"{what} at step {step} (last good checkpoint: {good}); nothing non-finite was saved. "
    "Lower train.learning_rate or set train.clip, in a new --workdir (an optimiser change "
    "is not a resume), with --init_from=<this workdir> to start from its best weights."
  )


def check_loss(loss_sum, step: int, last_good: int | None) -> None:
  """Raises TrainingError when the epoch's summed loss (a fetched float) is not finite.

  The sum adds every step's loss since the epoch began, so one NaN or inf step shows at the
  next check. `step` is the step of that check (a multiple of train.log_every_steps, a
  checkpoint save or the epoch's last step): the first non-finite loss came at a step after
  the previous check and at most `step`, not necessarily at `step` itself.
  """
  value = float(loss_sum)
  if not math.isfinite(value):
    _raise(f"loss became {'NaN' if math.isnan(value) else 'infinite'}", step, last_good)


def check_state(state, step: int, last_good: int | None) -> None:
  """Before a save: raises TrainingError when a parameter or optimizer value is not finite
  (the last update can break the params while the losses so far were finite)."""
  if not bool(_all_finite((state.params, state.opt_state))):
    _raise("parameters became NaN or infinite", step, last_good)
