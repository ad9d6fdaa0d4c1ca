"""GRU + attention translator (eng-fra, fra->eng): which attention, over 3 seeds.

The `fast` recipe of configs/gru_attention.py (Adam 2e-3, batch 32, 5 epochs) with each
decoder attention: none (the tutorial's plain DecoderRNN path), fixed (the tutorial's
attention over max_length slots: the baseline), additive (Bahdanau), dot and general
(Luong). Test = the 1,086 held-out pairs; BLEU/chrF with the paired test against fixed:
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/gru_attention.py \
      --workdir=runs/sweeps/gru_attention
Results: experiments/gru_attention/RESULTS.md.
"""

from seq2seq_jax.sweep import grid


def get_sweep():
  attentions = ["fixed", "none", "additive", "dot", "general"]
  return grid("configs/gru_attention.py:fast", {"model.attention": attentions}, seeds=3)
