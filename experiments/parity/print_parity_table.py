"""Prints the max abs differences, Flax vs the PyTorch reference, per model (same weights).

  python experiments/parity/print_parity_table.py [NAME_FILTER]

One row per case in seq2seq_jax/interop/parity/ `CASES` (every model family
registers its cases there: transformer, recurrent layers, RNN translators, the
classifier): a padded batch, fp32, eval mode and train mode with dropout 0;
outputs on real positions, gradients of the training loss w.r.t. every parameter.
NAME_FILTER keeps the rows whose name contains it (e.g. "rnn:", "classifier:").
A case that raises prints as a NO row and the others still run; exit status 1
if any row is not within tolerance. Needs torch (`pip install torch==2.13.0`).
Prints a Markdown table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
import torch  # noqa: E402

from seq2seq_jax.interop import parity  # noqa: E402


def main(argv: list[str]) -> int:
  torch.set_num_threads(1)  # tiny models: torch's threads would only fight XLA's
  name_filter = argv[1] if len(argv) > 1 else ""
  print(
    f"| model | outputs, eval | grads, eval | outputs, train (dropout 0) | "
    f"grads, train (dropout 0) | within {parity.OUTPUT_TOL:g} / {parity.GRAD_TOL:g} |"
  )
  print("|---|---|---|---|---|---|")
  failed = 0
  t0 = time.time()
  for name, case in parity.CASES.items():
    if name_filter not in name:
      continue
    try:
      d = case()
    except Exception as e:  # a broken case is a row too: the other rows still print
      failed += 1
      print(
        f"| {name} | {type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''} "
        "| | | | NO |",
        flush=True,
      )
      continue
    ok = all(diff.ok for diff in d.values())
    failed += not ok
    print(
      f"| {name} | {d['eval'].outputs:.2e} | {d['eval'].grads:.2e} | "
      f"{d['train'].outputs:.2e} | {d['train'].grads:.2e} | {'yes' if ok else 'NO'} |",
      flush=True,
    )
  print(
    f"torch {torch.__version__}, jax {jax.__version__}, {time.time() - t0:.0f} s", file=sys.stderr
  )
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
