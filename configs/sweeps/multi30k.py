"""Multi30k de->en transformer: the tutorial's recipe against multi30k_best, 3 seeds each.

Both train the tutorial's 10,409,240-parameter model (configs/transformer.py); the test
report has greedy and beam-4 BLEU/chrF/TER on test_2016_flickr, and the report the paired
bootstrap test of multi30k_best against the tutorial's recipe. About 35-70 minutes a run on
the 2-core CPU: the sweep resumes across interruptions (run the same command again). Its
directory is the study's record: each finished run's evaluation files are committed there
(.gitignore keeps checkpoints, vocabularies, logs and the dataset's own text out), so a
fresh checkout skips the finished runs and reports them.
  python -m seq2seq_jax.sweep --sweep=configs/sweeps/multi30k.py \
    --workdir=experiments/transformer_multi30k/sweep
Results: experiments/transformer_multi30k/RESULTS.md.
"""

from seq2seq_jax.sweep import cells


def get_sweep():
  return cells(
    {
      "tutorial": "configs/transformer.py:multi30k",
      "best": "configs/transformer.py:multi30k_best",
    },
    seeds=3,
  )
