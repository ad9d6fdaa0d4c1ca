"""Peak memory: this process's RSS high-water mark, and that of a fresh process that runs
only one side's training (`python -m seq2seq_jax.bench --probe=jax|torch`)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def rss_mb() -> float:
  """This process's peak RSS in MB: VmHWM (its own address space's high-water mark), else
  ru_maxrss (which on Linux a child inherits from its parent across fork + exec)."""
  try:
    for line in Path("/proc/self/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        return float(line.split()[1]) / 1024.0  # kB
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def peak_memory(name: str, batch: int, src_len: int, tgt_len: int, args, side: str) -> dict:
  """Peak RSS (MB) of a fresh process that runs 3 train steps of one side only, and its RSS
  high-water before building the model (imports of jax, torch and the data)."""
  cmd = [
    sys.executable,
    "-m",
    "seq2seq_jax.bench",
    f"--probe={side}",
    f"--models={name}",
    f"--batch={batch}",
    f"--src_len={src_len}",
    f"--tgt_len={tgt_len}",
    f"--threads={args.threads}",
  ] + (["--quick"] if args.quick else [])
  out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])
