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
"""

import ml_collections

from seq2seq_jax.config import decode_config, model_config, train_config


def get_config(arg: str = "numbers") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "translation"
  c.seed = 1234

  c.data = ml_collections.ConfigDict()
  c.data.name = "numbers"
  c.data.dir = ""  # local directory of the raw files (datasets other than numbers)
  c.data.cache_dir = ""  # tfds cache; default ~/.cache/seq2seq_jax or $SEQ2SEQ_JAX_CACHE
  c.data.download = False  # fetch upstream files when data.dir is missing
  c.data.src_lang = "de"
  c.data.tgt_lang = "en"
  c.data.lowercase = True
  c.data.src_bos_eos = True  # the tutorial's source Field adds <sos>/<eos> too
  c.data.min_freq = 2
  c.data.max_vocab = 0  # 0: no limit
  c.data.bucket_edges = (12, 16, 20, 24, 32, 48)
  # numbers dataset only
  c.data.num_train = 20000
  c.data.num_valid = 1000
  c.data.num_test = 1000
  c.data.max_value = 999_999
  c.data.seed = 0

  c.model = model_config("transformer")  # the tutorial's: hid 256, 3+3 layers, 8 heads, ff 512

  c.train = train_config(
    num_epochs=10, batch_size=64, optimizer="adam", learning_rate=5e-4, clip=1.0
  )  # the tutorial's recipe

  c.decode = decode_config(max_len=50, eval_beam_sizes=(4,))

  if arg == "numbers":
    c.train.num_epochs = 2
    c.decode.max_len = 24
    c.data.bucket_edges = (12, 16)
  elif arg == "multi30k":
    c.data.name = "multi30k"
    c.data.dir = "../shared/data/multi30k"
  else:
    raise ValueError(f"unknown config argument {arg!r}: use numbers or multi30k")
  return c
