"""malloc.py: the entry points restart themselves once with the glibc tunables (which keep
XLA:CPU's per-execution scratch slab in the heap), a user's own settings win, the opt-out
works, and with the tunables a jitted program stops faulting its scratch memory in anew
at every call."""

import json
import os
import platform
import subprocess
import sys

import pytest

from seq2seq_jax import malloc
from tests.conftest import ROOT

glibc = pytest.mark.skipif(
  not (sys.platform == "linux" and platform.libc_ver()[0] == "glibc"), reason="glibc only"
)


def test_tuned_value_adds_ours_and_keeps_the_users():
  assert malloc.tuned_value("") == ":".join(f"{k}={v}" for k, v in malloc.TUNABLES.items())
  mine = "glibc.malloc.arena_max=4:glibc.cpu.x86_ibt=on"
  got = malloc.tuned_value(mine).split(":")
  assert got[:2] == mine.split(":")
  assert "glibc.malloc.arena_max=1" not in got and "glibc.malloc.mmap_max=0" in got
  assert malloc.tuned_value(malloc.tuned_value(mine)) == malloc.tuned_value(mine)


PROBE = (
  "import os, sys; from seq2seq_jax import malloc; malloc.restart_tuned(); "
  "print(os.getpid(), os.environ.get('GLIBC_TUNABLES', ''), malloc.describe())"
)


def _run(code: str, **env) -> subprocess.CompletedProcess:
  environ = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", malloc.OPT_OUT)}
  return subprocess.run(
    [sys.executable, "-c", code],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env={**environ, **env},
    check=True,
  )


@glibc
def test_restart_sets_the_tunables_once_and_the_opt_out_leaves_them():
  pid, tunables, described = _run(PROBE).stdout.split(maxsplit=2)
  assert tunables == malloc.tuned_value("") and described.startswith("glibc tuned")
  assert _run(PROBE, SEQ2SEQ_JAX_MALLOC="default").stdout.split()[1:] == ["default"]
  own = _run(PROBE, GLIBC_TUNABLES="glibc.malloc.arena_max=3").stdout.split()[1]
  assert own.startswith("glibc.malloc.arena_max=3:") and "arena_max=1" not in own


REQUEST = (
  "import os, sys; from seq2seq_jax import malloc; malloc.restart_if_requested(sys.argv[1:]); "
  "print(malloc.describe().split()[0])"
)


@glibc
@pytest.mark.parametrize(
  "argv,expected",
  [
    ([], "default"),
    (["--malloc=tuned"], "glibc"),
    (["--malloc", "tuned"], "glibc"),
    (["--malloc=default"], "default"),
    (["--malloc"], "default"),
  ],
)
def test_the_benchmarks_malloc_flag_restarts_tuned_in_either_spelling(argv, expected):
  environ = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", malloc.OPT_OUT)}
  out = subprocess.run(
    [sys.executable, "-c", REQUEST, *argv],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env=environ,
    check=True,
  )
  assert out.stdout.strip() == expected


FAULTS = """
import json, resource, jax, jax.numpy as jnp
from seq2seq_jax import malloc
malloc.restart_tuned()
# a scratch slab of ~200 MB: three [2048, 8192] intermediates that cannot fuse away
f = jax.jit(lambda a, b: jnp.tanh(a @ b) @ b.T + jnp.exp(a @ b).sum())
a, b = jnp.ones((2048, 512)), jnp.ones((512, 8192)) * 1e-3
for _ in range(3): f(a, b).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5): f(a, b).block_until_ready()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5))
"""


@glibc
def test_tuned_process_reuses_its_scratch_memory_instead_of_faulting_it_in():
  default = json.loads(_run(FAULTS, SEQ2SEQ_JAX_MALLOC="default").stdout)
  tuned = json.loads(_run(FAULTS).stdout)
  assert default > 10_000  # pages of the slab, faulted in at every call
  assert tuned < default / 20, (tuned, default)
