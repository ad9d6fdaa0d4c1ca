"""The PyTorch reference of the char-RNN classifier, with the tutorials' parameter names, so
a state_dict saved by the tutorials' code loads as it is: RNN with i2h, i2o (the tutorial's
cell), or, for cell gru | lstm | srn, [embedding], rnn (nn.GRU / nn.LSTM / nn.RNN) and h2o
(the current tutorial's CharRNN names). Imports torch: use only where PyTorch is installed.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from seq2seq_jax.interop.torch_rnn_models import RNN_CLASSES


class RNN(nn.Module):
  """The char-RNN classifier. cell="tutorial": the tutorial's i2h / i2o over [x; h] (forward:
  one letter [1,input_size] + hidden -> (output, hidden)); else [embedding] -> rnn ->
  the last layer's final state(s) -> dropout -> h2o. `classify` runs a whole name."""

  def __init__(
    self,
    input_size: int,
    hidden_size: int,
    output_size: int,
    *,
    cell: str = "tutorial",
    num_layers: int = 1,
    bidirectional: bool = False,
    embed_size: int = 0,
    dropout: float = 0.0,
  ):
    super().__init__()
    self.cell, self.hidden_size = cell, hidden_size
    if cell == "tutorial":
      self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
      self.i2o = nn.Linear(input_size + hidden_size, output_size)
      return
    self.directions = 2 if bidirectional else 1
    if embed_size:  # letters 1..input_size, 0 = padding (seq2seq_jax's ids)
      self.embedding = nn.Embedding(input_size + 1, embed_size)
    self.dropout = nn.Dropout(dropout)
    self.rnn = RNN_CLASSES[cell](
      embed_size or input_size,
      hidden_size,
      num_layers,
      bidirectional=bidirectional,
      dropout=dropout if num_layers > 1 else 0.0,
    )
    self.h2o = nn.Linear(hidden_size * self.directions, output_size)

  def forward(self, input, hidden):
    combined = torch.cat((input, hidden), 1)
    return self.i2o(combined), self.i2h(combined)

  def init_hidden(self):
    return torch.zeros(1, self.hidden_size)

  def classify(self, name):
    """name: one-hot [L,1,input_size] (the tutorial's name_to_tensor) or, with an embedding,
    letter ids [L] -> logits [1, output_size]."""
    if self.cell == "tutorial":
      hidden = self.init_hidden()
      for i in range(name.shape[0]):
        output, hidden = self(name[i], hidden)
      return output
    x = self.dropout(self.embedding(name)[:, None]) if hasattr(self, "embedding") else name
    _, h_n = self.rnn(x)
    h_n = h_n[0] if self.cell == "lstm" else h_n
    return self.h2o(self.dropout(torch.cat(list(h_n[-self.directions :]), -1)))
