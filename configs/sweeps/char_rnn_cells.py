"""Char-RNN surname classifier: which recurrent cell, over 3 seeds.

The fast batched recipe (Adam 3e-3, batch 64, natural frequencies, early stopping on
validation loss) with each cell: the tutorial's i2h/i2o cell (the baseline), an SRN, a
GRU and an LSTM (one layer of 128 over one-hot letters, dropout 0.2: configs/char_rnn.py:gru
with model.cell changed), and the default 2-layer bidirectional GRU over letter
embeddings (dropout 0.4). Test = the stratified 15 % (3,012 names); top-1, top-3 and macro
accuracy, with the paired test against the tutorial's cell:
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/char_rnn_cells.py \
      --workdir=runs/sweeps/char_rnn_cells
Results: experiments/char_rnn/RESULTS.md.
"""

from seq2seq_jax.sweep import cells

ONE_LAYER = "configs/char_rnn.py:gru"


def get_sweep():
  return cells(
    {
      "tutorial": (ONE_LAYER, {"model.cell": "tutorial"}),
      "srn": (ONE_LAYER, {"model.cell": "srn"}),
      "gru": ONE_LAYER,
      "lstm": "configs/char_rnn.py:lstm",
      "bigru": "configs/char_rnn.py",
    },
    seeds=3,
  )
