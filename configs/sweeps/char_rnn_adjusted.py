"""Char-RNN surname classifier: the 2-layer bi-GRU's top-1 / macro trade-off, over 3 seeds.

Three cells on the same split and seeds as configs/sweeps/char_rnn_cells.py:
  bigru        the default (configs/char_rnn.py): the model's own argmax (the baseline)
  bigru_tuned  the same runs' predictions logit-adjusted, log p(y|x) - tau log prior(y),
               with the tau of each run's best validation top-1 + macro accuracy
               (report.tune_logit_adjustment; tau in 0, 0.1, .., 1)
  ens5_tuned   a deep ensemble of 5 such bi-GRUs (model.ensemble=5: own initialisations
               and dropout, each trained on its own NLL, probabilities averaged), tuned
               the same way
The report adds each cell's whole frontier (test top-1 / macro at every tau):
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/char_rnn_adjusted.py \
      --workdir=experiments/char_rnn/sweep_adjusted
Results: experiments/char_rnn/RESULTS.md.
"""

from seq2seq_jax.sweep import cells

DEFAULT = "configs/char_rnn.py"
TUNED = {"report.tune_logit_adjustment": True}


def get_sweep():
  return cells(
    {
      "bigru": DEFAULT,
      "bigru_tuned": (DEFAULT, TUNED),
      "ens5_tuned": (DEFAULT, {**TUNED, "model.ensemble": 5}),
    },
    seeds=3,
  )
