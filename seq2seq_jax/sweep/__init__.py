"""Sweeps: cells x seeds of ordinary runs, resumable and shardable, with a statistics report.

  python -m seq2seq_jax.sweep --config=configs/transformer.py:multi30k \
      --grid=model.norm=post,pre --grid=train.label_smoothing=0,0.1 --seeds=3 \
      --workdir=runs/sweeps/norm_ls
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/char_rnn_cells.py --workdir=runs/sweeps/cells
  python -m seq2seq_jax.sweep --report --workdir=runs/sweeps/norm_ls
"""

from seq2seq_jax.sweep.spec import Cell, Sweep, cells, grid

__all__ = ["Cell", "Sweep", "cells", "grid"]
