"""Test loss the way the tutorial computes it, for a trained run.

The tutorial's `evaluate` averages per-batch mean token losses over torchtext's
eval BucketIterator (batches of 64 consecutive examples sorted by source
length). seq2seq_jax reports the token-weighted mean over the whole split.
This prints both for the best checkpoint of a run:

  python experiments/transformer_multi30k/tutorial_loss.py --workdir=runs/m30k
"""

import argparse
import json
import math
from pathlib import Path

import jax
import ml_collections
import numpy as np

from seq2seq_jax import train
from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.tasks import translation


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default="test")
  p.add_argument("--batch_size", type=int, default=64)
  args = p.parse_args()
  workdir = Path(args.workdir)
  config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  task = translation.build_task(config, workdir)
  params = train.restore_params(task.model, task.init_args, config, workdir)
  _, eval_step = train.make_steps(task.loss_fn)
  data = task.eval_data[args.split]
  order = sorted(range(len(data.examples)), key=lambda i: data.examples[i]["src_len"])
  batch_means, tok_sum, tok_n = [], 0.0, 0.0
  for start in range(0, len(order), args.batch_size):
    idx = order[start : start + args.batch_size]
    edge = max(max(data.examples[i]["src_len"], data.examples[i]["tgt_len"]) for i in idx)
    one = BucketedDataset(
      [data.examples[i] for i in idx],
      np.full(len(idx), edge),
      (edge,),
      args.batch_size,
      data.pad_values,
    )
    sums = jax.device_get(eval_step(params, next(one.batches())))
    batch_means.append(float(sums.loss / sums.weight))
    tok_sum, tok_n = tok_sum + float(sums.loss), tok_n + float(sums.weight)
  tut = float(np.mean(batch_means))
  print(
    f"{args.split}: tutorial-style loss (mean of {len(batch_means)} batch means) "
    f"{tut:.3f} (PPL {math.exp(tut):.2f}); token-weighted loss {tok_sum / tok_n:.3f} "
    f"(PPL {math.exp(tok_sum / tok_n):.2f})"
  )


if __name__ == "__main__":
  main()
