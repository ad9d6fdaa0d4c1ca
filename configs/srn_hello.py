"""The SRN homework's per-step toy: read `hello` (one-hot e h l o), emit `ohlol`.

An Elman RNN cell (torch.nn.RNNCell: tanh, hidden 4) whose hidden state is read as the
4-way logits, Adam lr 0.1, one sequence per step, 15 epochs; each epoch prints the
predicted string. It learns `ohlol` exactly within seconds:
  python -m seq2seq_jax.main --config=configs/srn_hello.py
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "tagging"
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "hello"
  c.data.repeat = 1  # copies of the sequence per epoch (one optimiser step each)
  c.data.bucket_edges = (5,)

  c.model = ml_collections.ConfigDict()
  c.model.cell = "srn"
  c.model.hidden = 4  # == the 4 classes: the hidden state is the logits
  c.model.layers = 1
  c.model.activation = "tanh"
  c.model.embed = 0  # one-hot inputs
  c.model.head = "none"

  c.train = ml_collections.ConfigDict()
  c.train.num_epochs = 15
  c.train.batch_size = 1
  c.train.eval_batch_size = 1
  c.train.optimizer = "adam"
  c.train.learning_rate = 0.1
  c.train.b1 = 0.9
  c.train.b2 = 0.999
  c.train.momentum = 0.0
  c.train.weight_decay = 0.0
  c.train.schedule = "constant"
  c.train.warmup_steps = 0
  c.train.decay_steps = 0
  c.train.clip = 0.0
  c.train.log_every_steps = 1
  c.train.checkpoint_every_steps = 0
  c.train.stop_after_steps = 0
  c.train.early_stop_patience = 0

  c.decode = ml_collections.ConfigDict()
  c.decode.num_samples = 1
  c.decode.epoch_samples = 1  # print the predicted string every epoch
  return c
