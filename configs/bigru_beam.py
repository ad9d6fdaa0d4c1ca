"""The PaddlePaddle book's machine translation chapter: bi-GRU encoder, additive-attention
GRU decoder, beam search.

Encoder: embedding -> bidirectional GRU; the decoder starts from tanh(W h), h the backward
GRU's state at the first word; each decoder step attends (Bahdanau) over the encoder
outputs and feeds [embedding; context] to its GRU; softmax over the target dictionary.
Dictionaries: `<s> <e> <unk>` + the `data.max_vocab` most frequent words (the chapter's
DICTSIZE = max_vocab + 3); sources are wrapped in <s> ... <e> as the chapter's reader.
Optimiser: Adagrad with L2 regularisation as the chapter (its demo's lr 1e-4 / L2 0.1 are
sized for a 2-sentence toy run; the values here train in minutes); Adam is an option:
--config.train.optimizer=adam --config.train.learning_rate=1e-3.

The chapter's WMT14 subset is not available offline; two datasets instead:
  python -m seq2seq_jax.main --config=configs/bigru_beam.py:multi30k      (de -> en)
  python -m seq2seq_jax.main --config=configs/bigru_beam.py:eng_fra_full  (fra -> eng)
Results (greedy and beam 1/2/4/8 BLEU, sentences/s): experiments/rnn/RESULTS.md.
The chapter's n-best output (`rank score words <e>`):
  python -m seq2seq_jax.main --mode=translate --workdir=runs/bigru_beam_multi30k \
      "ein mann schläft auf einer bank ."
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config

ARGS = ("multi30k", "eng_fra_full")


def get_config(arg: str = "multi30k") -> ml_collections.ConfigDict:
  c = run_config("translation", seed=1234, arg=arg, args=ARGS)

  # + eng_fra_full's keys; whitespace tokens, lowercased; <s> source <e> as the chapter's reader
  c.data = data_config(
    "multi30k",
    "eng_fra_full",
    dir="../shared/data/multi30k",
    specials="paddle",  # <s>=0, <e>=1, <unk>=2
    max_vocab=8000,  # most frequent words per side (DICTSIZE - 3)
  )

  c.model = model_config(
    "rnn",
    bidirectional=True,
    attention="additive",
    max_length=0,  # fixed-length attention only
    bridge="tanh",
    dropout=0.0,
  )

  c.train = train_config(
    num_epochs=2,
    optimizer="adagrad",
    learning_rate=0.03,  # 0.1 diverges early with a zero initial accumulator
    weight_decay=1e-5,  # L2 regularisation (added to the gradient)
  )

  c.decode = decode_config(
    nbest=3,
    eval_beam_sizes=(2, 4, 8),
    num_samples=3,
    beam_size=3,  # translate mode: the chapter shows a 3-best list
    show_eos=True,  # print the final <e> as the chapter does
  )

  if arg == "eng_fra_full":
    c.data.update(
      name="eng_fra_full",
      dir="../shared/data/eng-fra",
      tokenizer="tutorial",
      bucket_edges=(8, 12, 16, 24, 32),
    )  # longer training pairs (0.1 %) dropped
    c.decode.max_len = 40
    c.train.num_epochs = 1
  return c
