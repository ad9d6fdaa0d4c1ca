"""The SRN homework's per-step toy: read `hello` (one-hot e h l o), emit `ohlol`.

An Elman RNN cell (torch.nn.RNNCell: tanh, hidden 4) whose hidden state is read as the
4-way logits, Adam lr 0.1, one sequence per step, 15 epochs; each epoch prints the
predicted string. It learns `ohlol` exactly within seconds:
  python -m seq2seq_jax.main --config=configs/srn_hello.py
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config


def get_config() -> ml_collections.ConfigDict:
  c = run_config("tagging", seed=0)

  c.data = data_config("hello")  # one copy of the sequence per epoch, padded to 5

  c.model = model_config(
    "tagger",
    cell="srn",
    hidden=4,  # == the 4 classes: the hidden state is the logits
    layers=1,
    activation="tanh",
    embed=0,  # one-hot inputs
    head="none",
  )

  c.train = train_config(
    num_epochs=15, batch_size=1, eval_batch_size=1, learning_rate=0.1, clip=0.0, log_every_steps=1
  )

  c.decode = decode_config(  # the tagging task reads these two only
    num_samples=1,
    epoch_samples=1,  # print the predicted string every epoch
  )
  return c
