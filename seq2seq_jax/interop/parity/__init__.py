"""Numerics parity with the PyTorch references: same weights -> max abs differences.

Each entry of `CASES` builds a Flax model and its PyTorch reference, copies the
PyTorch weights into Flax with `torch_import`, runs both on a padded batch in
eval mode and in train mode with dropout 0 (fp32, matmuls at full precision),
and returns the max abs difference of the outputs (real positions only) and of
the loss's parameter gradients. tests/test_parity_*.py assert OUTPUT_TOL and
GRAD_TOL; experiments/parity/print_parity_table.py prints the table.

common.py (Diffs, tolerances, batches), transformer.py, rnn_layers.py (RNN layers and
cells), rnn_models.py (RNN translators, classifier): one case function per family.
Adding a model family: a reference in torch_models.py (transformer), torch_rnn_models.py
(RNN translators) or torch_classifier.py, a mapping in torch_import.MAPPINGS and a case
function here, registered in CASES.
Imports torch (like torch_models): use it only where PyTorch is installed.
"""

from __future__ import annotations

from collections.abc import Callable

from seq2seq_jax.interop.parity.common import (
  BOS,
  EOS,
  GRAD_TOL,
  MODES,
  OUTPUT_TOL,
  PAD,
  UNK,
  Diffs,
  max_abs_diff,
)
from seq2seq_jax.interop.parity.rnn_layers import rnn_cell_parity, rnn_layer_parity
from seq2seq_jax.interop.parity.rnn_models import (
  classifier_parity,
  rnn_seq2seq_parity,
  tiny_rnn_seq2seq_config,
)
from seq2seq_jax.interop.parity.transformer import tiny_transformer_config, transformer_parity

__all__ = [
  "BOS",
  "CASES",
  "EOS",
  "GRAD_TOL",
  "MODES",
  "OUTPUT_TOL",
  "PAD",
  "UNK",
  "Diffs",
  "classifier_parity",
  "max_abs_diff",
  "rnn_cell_parity",
  "rnn_layer_parity",
  "rnn_seq2seq_parity",
  "tiny_rnn_seq2seq_config",
  "tiny_transformer_config",
  "transformer_parity",
]

# name -> () -> {mode: Diffs}.
CASES: dict[str, Callable[[], dict[str, Diffs]]] = {
  "transformer (tutorial: shared LN, post-LN)": lambda: transformer_parity(
    tiny_transformer_config()
  ),
  "transformer (separate LNs)": lambda: transformer_parity(
    tiny_transformer_config(shared_layer_norm=False)
  ),
  "transformer (pre-LN, separate LNs)": lambda: transformer_parity(
    tiny_transformer_config(norm="pre", shared_layer_norm=False)
  ),
  "transformer (sinusoidal positions)": lambda: transformer_parity(
    tiny_transformer_config(positions="sinusoidal")
  ),
  "layer: nn.RNNCell (SRN)": lambda: rnn_cell_parity("srn"),
  "layer: nn.GRUCell": lambda: rnn_cell_parity("gru"),
  "layer: nn.LSTMCell": lambda: rnn_cell_parity("lstm"),
  "layer: nn.RNN (2 layers)": lambda: rnn_layer_parity("srn", num_layers=2),
  "layer: nn.GRU (2 layers, bidirectional)": lambda: rnn_layer_parity(
    "gru", num_layers=2, bidirectional=True
  ),
  "layer: nn.LSTM (2 layers, bidirectional)": lambda: rnn_layer_parity(
    "lstm", num_layers=2, bidirectional=True
  ),
  "rnn: tutorial GRU + attention (AttnDecoderRNN, fixed_slots=all)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config()
  ),
  "rnn: tutorial plain decoder (DecoderRNN)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(attention="none", dropout=0.0)
  ),
  "rnn: bi-GRU + additive attention, tanh bridge (book)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(bidirectional=True, attention="additive", bridge="tanh", max_length=0)
  ),
  "rnn: char toy Seq2Seq (nn.RNN, one-hot)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(src_vocab_size=11, embed=0, cell="srn", attention="none", dropout=0.0)
  ),
  "classifier: tutorial i2h/i2o cell": lambda: classifier_parity("tutorial", dropout=0.0),
  "classifier: GRU (one-hot)": lambda: classifier_parity("gru"),
  "classifier: LSTM (one-hot)": lambda: classifier_parity("lstm"),
  "classifier: bi-GRU (2 layers, embeddings)": lambda: classifier_parity(
    "gru", num_layers=2, bidirectional=True, input="embed"
  ),
}
