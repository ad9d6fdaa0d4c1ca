"""Test-only fault injection for tests/test_faults.py's subprocesses (never library code).

tests/test_faults.py puts this folder first on PYTHONPATH, so Python imports this module at
start-up; SEQ2SEQ_TEST_FAULT=<kind>:<n> then makes the run hit one fault at an exact point:

  sigint:N  SIGINT to itself after its N-th train step (a Ctrl-C: save, then exit 130)
  step:N    SIGKILL after its N-th train step (mid-epoch)
  save:N    SIGKILL inside its N-th checkpoint save: the files written, the rename not done
  report:N  SIGKILL at the N-th decode of the test report (1: greedy, 2: beam 2, ...)

Every count is of this process's own calls, so the same command resumed without the
variable runs on normally.
"""

import os
import signal

_FAULT = os.environ.get("SEQ2SEQ_TEST_FAULT")


def _counter(n: int, then):
  """A function that runs `then` on its n-th call."""
  calls = [0]

  def tick():
    calls[0] += 1
    if calls[0] == n:
      then()

  return tick


def _kill():
  os.kill(os.getpid(), signal.SIGKILL)


def _install(kind: str, n: int) -> None:
  if kind in ("step", "sigint"):
    import jax

    from seq2seq_jax.train import loop

    tick = _counter(n, _kill if kind == "step" else lambda: os.kill(os.getpid(), signal.SIGINT))
    make_steps = loop.make_steps

    def faulty_make_steps(*args, **kwargs):
      train_step, eval_step = make_steps(*args, **kwargs)

      def step(state, batch):
        out = jax.block_until_ready(train_step(state, batch))
        tick()
        return out

      return step, eval_step

    loop.make_steps = faulty_make_steps
  elif kind == "save":
    from orbax.checkpoint._src.path import atomicity

    tick = _counter(n, _kill)
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def faulty_finalize(self):
      if self.get().name.split(".")[0].isdigit():  # a step's directory, not one of its items
        tick()
      return await finalize(self)

    atomicity.AtomicRenameTemporaryPath.finalize = faulty_finalize
  elif kind == "report":
    from seq2seq_jax.tasks import translation

    tick = _counter(n, _kill)
    decode_dataset = translation.decode_dataset

    def faulty_decode_dataset(*args, **kwargs):
      tick()
      return decode_dataset(*args, **kwargs)

    translation.decode_dataset = faulty_decode_dataset
  else:
    raise ValueError(f"unknown SEQ2SEQ_TEST_FAULT kind {kind!r}")


if _FAULT:
  _kind, _n = _FAULT.split(":")
  _install(_kind, int(_n))
