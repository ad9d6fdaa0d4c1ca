"""Every char-RNN recipe of configs/char_rnn.py, one seed each: the table of
experiments/char_rnn/RESULTS.md (its 3-seed cell study is configs/sweeps/char_rnn_cells.py).

  python -m seq2seq_jax.sweep --sweep=configs/sweeps/char_rnn_table.py \
      --workdir=runs/sweeps/char_rnn_table

One run at a time, each an ordinary run directory that resumes if interrupted (the batch-1
recipes' 100,000 steps included); the report's per-seed table has each run's wall seconds.
"""

from seq2seq_jax.sweep import cells

ARGS = ("tutorial", "tutorial_gru", "gru", "lstm", "bilstm", "balanced", "default")


def get_sweep():
  return cells({arg: f"configs/char_rnn.py:{arg}" for arg in ARGS}, seeds=[0])
