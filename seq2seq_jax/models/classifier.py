"""Char-RNN classifier: a name (letter ids) -> log-probabilities over labels.

Cells:
  tutorial   the PyTorch tutorial's RNN: combined = [x, h]; h' = i2h(combined);
             y = i2o(combined) (both plain nn.Linear, no nonlinearity); the
             prediction is log_softmax(y) at the last real letter.
  srn | gru | lstm   models/rnn.py's stacks (uni- or bidirectional); the final
             hidden state(s) of the last layer -> dropout -> Linear `out`.

Inputs are one-hot letters (as the tutorial) or a learned embedding. All cells
run as masked `nn.scan`s, so a padded batch gives each name's own result.

Shapes: chars [B, L] int (letters 1..num_letters, 0 = padding), length [B]
-> log-probs [B, num_classes].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models.layers import Dropout, dense
from seq2seq_jax.models.rnn import RNN, Cell, scanned


class TutorialCell(Cell):
  """The tutorial's cell; carry h [B, hidden], output y [B, classes] (logits)."""

  classes: int = 18

  @nn.compact
  def step(self, h, x):
    combined = jnp.concatenate([x, h], axis=-1)
    n_in = combined.shape[-1]  # torch nn.Linear(input + hidden, ...) init
    return (
      dense(self.hidden, n_in, name="i2h")(combined),
      dense(self.classes, n_in, name="i2o")(combined),
    )


class CharClassifier(nn.Module):
  """Names -> log-probabilities over `num_classes` labels (see module docstring)."""

  num_classes: int
  num_letters: int = 57
  cell: str = "tutorial"  # tutorial | srn | gru | lstm
  hidden: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  input: str = "onehot"  # onehot | embed
  embed_dim: int = 64
  dropout: float = 0.0
  dropout_rng: str = "threefry"  # dropout masks: threefry (nn.Dropout's) | hash

  @nn.compact
  def __call__(self, chars, length, train: bool = False):
    batch = chars.shape[0]
    mask = jnp.arange(chars.shape[1])[None, :] < length[:, None]
    if self.input == "onehot":
      x = jax.nn.one_hot(chars - 1, self.num_letters)  # padding (id 0) -> all zeros
    else:  # torch nn.Embedding init: N(0, 1)
      x = nn.Embed(
        self.num_letters + 1,
        self.embed_dim,
        embedding_init=nn.initializers.normal(1.0),
        name="embed",
      )(chars)
      x = Dropout(self.dropout, self.dropout_rng)(x, deterministic=not train)
    if self.cell == "tutorial":
      cell = scanned(TutorialCell)(hidden=self.hidden, classes=self.num_classes, name="rnn")
      _, y = cell(cell.initial_carry(batch), (x, mask))  # y [B, L, classes]
      logits = y[jnp.arange(batch), jnp.maximum(length - 1, 0)]
    else:
      _, finals = RNN(
        self.cell,
        self.hidden,
        self.num_layers,
        self.bidirectional,
        dropout=self.dropout,
        dropout_rng=self.dropout_rng,
        name="rnn",
      )(x, mask, train=train)
      last = finals[-(1 + self.bidirectional) :]  # last layer: forward (and reverse) carry
      h = jnp.concatenate([c[0] if self.cell == "lstm" else c for c in last], axis=-1)
      h = Dropout(self.dropout, self.dropout_rng)(h, deterministic=not train)
      logits = dense(self.num_classes, h.shape[-1], name="out")(h)
    return jax.nn.log_softmax(logits)


def check_classifier(m: CharClassifier) -> None:
  """Refuses the combinations the classifier does not build."""
  if m.cell not in ("tutorial", "srn", "gru", "lstm") or m.input not in ("onehot", "embed"):
    raise ConfigError(
      f"model.cell={m.cell!r}, model.input={m.input!r}: use cell tutorial, srn, "
      "gru or lstm and input onehot or embed."
    )
  if m.cell == "tutorial" and (m.input != "onehot" or m.bidirectional or m.num_layers != 1):
    raise ConfigError(
      "model.cell=tutorial is the tutorial's one-layer one-hot RNN: use "
      "model.input=onehot, bidirectional=False, num_layers=1."
    )
