"""python -m seq2seq_jax.bench [flags]: see seq2seq_jax/bench/__init__.py."""

import sys

if __name__ == "__main__":
  if "--malloc=tuned" in sys.argv[1:]:  # before anything allocates (seq2seq_jax/malloc.py)
    from seq2seq_jax import malloc

    malloc.restart_tuned()

  from seq2seq_jax.bench.cli import main

  main()
