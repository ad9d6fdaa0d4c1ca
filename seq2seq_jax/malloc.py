"""glibc malloc settings that keep XLA:CPU's scratch memory in the process between steps.

Each execution of a jitted program on the CPU allocates one slab for its intermediate
buffers and frees it at the end (316 MB for the Multi30k transformer's train step).
glibc serves an allocation that large with mmap and returns it with munmap, so every
step faults the whole slab in again, page by page: 79,000 minor faults and ~150 ms of
kernel time per step on a 2-core AMD EPYC, 12 % of the step's wall time
(`experiments/cpu_step/RESULTS.md`). With

  GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...

every allocation comes from the one heap, freed memory stays there and the next step
reuses it: no faults. (XLA's worker threads would otherwise allocate in arenas of at most
64 MB, which fall back to mmap for the slab whatever mmap_max says.) The cost: the
process's memory is not given back to the system until it exits; its peak is the same.

glibc reads GLIBC_TUNABLES once, at start-up, so `restart_tuned()` starts the program
again (os.execv, same pid, same arguments) with them set, before it imports anything
heavy. `python -m seq2seq_jax.main` calls it (so every run, and every run of a sweep);
SEQ2SEQ_JAX_MALLOC=default turns it off. The benchmark keeps glibc's defaults unless asked
(`--malloc=tuned`, `restart_if_requested`): it runs the PyTorch reference in the same
process, and the setting speeds that side's step too (1.05x, against 1.13x for ours). Only
on Linux with glibc; elsewhere a no-op.
"""

from __future__ import annotations

import os
import sys

TUNABLES = {
  "glibc.malloc.arena_max": "1",
  "glibc.malloc.mmap_max": "0",
  "glibc.malloc.trim_threshold": "4294967295",
}
OPT_OUT = "SEQ2SEQ_JAX_MALLOC"  # =default: leave glibc's malloc as it is


def tuned_value(current: str = "") -> str:
  """GLIBC_TUNABLES with ours added to `current` (a setting already there wins)."""
  items = [kv for kv in current.split(":") if kv]
  have = {kv.split("=", 1)[0] for kv in items}
  return ":".join(items + [f"{k}={v}" for k, v in TUNABLES.items() if k not in have])


def _glibc() -> bool:
  """Whether this process runs on glibc (os.confstr: no read of the interpreter's binary)."""
  try:
    return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
  except (AttributeError, ValueError, OSError):
    return False


def wanted() -> bool:
  """Whether this process should run with the tunables: glibc Linux, not opted out."""
  if os.environ.get(OPT_OUT, "tuned") == "default":
    return False
  return sys.platform == "linux" and _glibc()


def active() -> bool:
  """Whether this process started with every one of our tunables in effect."""
  current = os.environ.get("GLIBC_TUNABLES", "")
  return wanted() and tuned_value(current) == current


def describe() -> str:
  """One line for a benchmark's machine record: which malloc settings this process has."""
  if active():
    return f"glibc tuned ({os.environ['GLIBC_TUNABLES']})"
  return "default"


def restart_tuned() -> None:
  """Replaces this process by the same command with GLIBC_TUNABLES set (once).

  Call it first thing in a program's __main__ block: what ran before is lost."""
  if not wanted() or active():
    return
  os.environ["GLIBC_TUNABLES"] = tuned_value(os.environ.get("GLIBC_TUNABLES", ""))
  sys.stdout.flush()
  sys.stderr.flush()
  os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def restart_if_requested(argv: list[str]) -> None:
  """`restart_tuned()` when a command line asks for it with `--malloc=tuned` or `--malloc
  tuned` (the benchmark scripts' flag; their argparse parses the same argv afterwards)."""
  for i, arg in enumerate(argv):
    if arg == "--malloc=tuned" or (arg == "--malloc" and argv[i + 1 : i + 2] == ["tuned"]):
      restart_tuned()
