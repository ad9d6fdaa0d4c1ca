"""Char-RNN surname classifier: the 2-layer bi-GRU's top-1 / macro trade-off, over 3 seeds.

Three cells on the split and seeds of configs/sweeps/char_rnn_cells.py (training is
deterministic, so all three train the same three models):
  bigru        the default (configs/char_rnn.py): the model's own argmax (the baseline)
  bigru_tuned  its predictions logit-adjusted, argmax of log p(y|x) - tau log prior(y),
               with the tau of each run's best validation top-1 + macro accuracy
               (report.tune_logit_adjustment; tau in 0, 0.1, .., 1)
  bigru_tau05  its predictions logit-adjusted with tau 0.5 (report.logit_adjustment), the tau
               of the best validation top-1 + macro averaged over the seeds (the frontier
               table of the first two cells' report)
The report adds each cell's frontier (test top-1 / macro at every tau, and the tau the
seeds' mean validation chooses):
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/char_rnn_adjusted.py \
      --workdir=experiments/char_rnn/sweep_adjusted
Results: experiments/char_rnn/RESULTS.md.
"""

from seq2seq_jax.sweep import cells

DEFAULT = "configs/char_rnn.py"


def get_sweep():
  return cells(
    {
      "bigru": DEFAULT,
      "bigru_tuned": (DEFAULT, {"report.tune_logit_adjustment": True}),
      "bigru_tau05": (DEFAULT, {"report.logit_adjustment": 0.5}),
    },
    seeds=3,
  )
