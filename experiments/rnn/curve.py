"""BLEU-vs-training-time curve of a translation config, through the one training loop.

Every epoch (Task.on_epoch_end) greedy-decodes the validation split and prints its BLEU
next to the cumulative training seconds (the loop's epoch times: train steps, compiles
and the validation loss; decoding for this curve is not counted). For tuning without
touching test, pass --config.data.valid_holdout=True (eng_fra: validation pairs leave
train). The final test report of the loop is printed as usual.

  python experiments/rnn/curve.py --config=configs/gru_attention.py \
      --config.data.valid_holdout=True --workdir=runs/curve_fast
"""

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from seq2seq_jax import metrics, train  # noqa: E402
from seq2seq_jax.data.registry import load_parallel  # noqa: E402
from seq2seq_jax.tasks import translation  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (fresh).")
_SPLIT = flags.DEFINE_enum(
  "split",
  "validation",
  ["validation", "test"],
  "Split decoded each epoch (test: reporting a fixed recipe only).",
)
log = logging.getLogger("seq2seq_jax")


def main(argv):
  del argv
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  log.setLevel(logging.INFO)
  jax.config.update("jax_threefry_partitionable", True)
  config, workdir = _CONFIG.value, Path(_WORKDIR.value)
  workdir.mkdir(parents=True, exist_ok=True)
  task = translation.build_task(config, workdir)
  data = task.eval_data[_SPLIT.value]
  refs = [p[1] for p in load_parallel(config.data).split(_SPLIT.value)]
  tgt_vocab = translation.Vocab.load(workdir / translation.TGT_VOCAB)
  t_start = time.time()

  def on_epoch_end(params, epoch):
    records = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    trained = sum(r["seconds"] for r in records if "epoch" in r)
    hyps, _ = translation.decode_dataset(task.model, params, data, tgt_vocab, config, beam_size=1)
    print(
      json.dumps(
        {
          "epoch": epoch,
          "train_seconds": round(trained, 1),
          "wall_seconds": round(time.time() - t_start, 1),
          "valid_loss": round(records[-1]["valid_loss"], 3),
          f"{_SPLIT.value}_greedy_bleu": round(metrics.bleu(hyps, refs), 2),
          f"{_SPLIT.value}_exact_match": round(metrics.exact_match(hyps, refs), 1),
        }
      ),
      flush=True,
    )

  task.on_epoch_end = on_epoch_end
  result = train.train_and_evaluate(task, config, workdir)
  print(json.dumps({"test": {k: v for k, v in result.items() if "png" not in k}}, default=str))


if __name__ == "__main__":
  app.run(main)
