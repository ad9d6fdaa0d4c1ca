"""The SRN homework's char seq2seq toy: English -> Spanish words, one character per token.

hello->hola, cat->gato, good->bueno with the toy's symbols S (decoder start), E (end)
and ? (padding, masked here), the source followed by E. One-hot characters, an Elman
RNN encoder (tanh, hidden 128) whose last state starts an Elman RNN decoder, a Linear
to the characters; Adam. Every epoch prints the greedy translations; all three are
right within a few hundred steps:
  python -m seq2seq_jax.main --config=configs/char_seq2seq.py
  python -m seq2seq_jax.main --mode=translate --workdir=runs/char_seq2seq hello cat good
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config


def get_config() -> ml_collections.ConfigDict:
  c = run_config("translation", seed=0)

  c.data = data_config(
    "char_pairs",
    repeat=10,  # copies of the 3 pairs per epoch: 10 steps of batch 3
    tokenizer="chars",
    lowercase=False,
    src_bos_eos=False,
    src_eos=True,  # the toy appends E to the source
    specials="chars",  # S, E, ?
    bucket_edges=(6,),  # the longest word + E: padding to the longest word
  )

  c.model = model_config(
    "rnn",
    embed=0,  # one-hot characters
    hidden=128,
    cell="srn",
    attention="none",
    bridge="copy",  # the encoder's last state starts the decoder
    dropout=0.0,
  )

  c.train = train_config(
    num_epochs=8, batch_size=3, eval_batch_size=3, learning_rate=3e-3, clip=0.0
  )

  c.decode = decode_config(
    max_len=6,
    beam_size=2,
    nbest=2,
    eval_beam_sizes=(),
    num_samples=3,
    epoch_samples=3,  # print the greedy translations every epoch
  )
  return c
