"""The tutorial transformer (Multi30k de->en, "Attention is all you need").

Default: the embedded numbers dataset (English number words -> French), so it
runs with no download:
  python -m seq2seq_jax.main --config=configs/transformer.py
  -> test exact match >= 90 % in under 5 minutes on a 2-core CPU (see README).

The tutorial's recipe on Multi30k (lowercase, whitespace tokens, min_freq 2,
hid 256, 3+3 layers, 8 heads, ff 512, dropout 0.1, Adam 5e-4, clip 1, batch 64,
10 epochs, best-valid checkpoint):
  python -m seq2seq_jax.main --config=configs/transformer.py:multi30k \
      --config.data.dir=../shared/data/multi30k

Packed training batches (README "Packing and token-counted batches"): several pairs per
row of one fixed shape, segment-masked attention, 97 % real target tokens instead of the
buckets' 83 %; here 4096 tokens a batch (32 rows of 128 source / 124 target tokens):
  python -m seq2seq_jax.main --config=configs/transformer.py:multi30k \
      --config.data.packing=True --config.data.packed_length="(128, 124)" \
      --config.train.max_tokens=4096

multi30k_best: the same 10,409,240-parameter model and data, regularised for 29 k pairs
(dropout 0.3, label smoothing 0.1), Adam with 1,000 warmup steps and a cosine decay over
15 epochs, the best checkpoint chosen by validation greedy BLEU, the mean of the last 5
epochs' weights reported beside it (averaged_*), and beam 4 with length penalty 1.0. The
candidate recipe of the Multi30k study (configs/sweeps/multi30k.py; its 3-seed figures:
experiments/transformer_multi30k/RESULTS.md).
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config

ARGS = ("numbers", "multi30k", "multi30k_best")


def get_config(arg: str = "numbers") -> ml_collections.ConfigDict:
  c = run_config("translation", seed=1234, arg=arg, args=ARGS)

  # + multi30k's keys; lowercase, <sos> source <eos> (the tutorial's source Field)
  c.data = data_config("numbers", "multi30k", min_freq=2)

  c.model = model_config("transformer")  # the tutorial's: hid 256, 3+3 layers, 8 heads, ff 512

  c.train = train_config(
    num_epochs=10, batch_size=64, optimizer="adam", learning_rate=5e-4, clip=1.0
  )  # the tutorial's recipe

  c.decode = decode_config(max_len=50, eval_beam_sizes=(4,))

  if arg == "numbers":
    c.train.num_epochs = 2
    c.decode.max_len = 24
    c.data.bucket_edges = (12, 16)
  elif arg.startswith("multi30k"):
    c.data.name = "multi30k"
    c.data.dir = "../shared/data/multi30k"
  if arg == "multi30k_best":
    c.model.dropout = 0.3
    c.train.update(
      num_epochs=15,
      label_smoothing=0.1,
      learning_rate=7e-4,
      schedule="warmup_cosine",
      warmup_steps=1000,
      decay_steps=15 * 457,  # 15 epochs of 457 batches
      select_by="bleu",  # validation greedy BLEU picks the best checkpoint
      keep_checkpoints=5,  # the last 5 epochs, averaged at the end (averaged_* metrics)
    )
    c.decode.length_penalty = 1.0
  return c
