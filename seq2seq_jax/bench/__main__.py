"""python -m seq2seq_jax.bench [flags]: see seq2seq_jax/bench/__init__.py."""

import sys

if __name__ == "__main__":
  from seq2seq_jax import malloc

  malloc.restart_if_requested(sys.argv[1:])  # before anything allocates (--malloc=tuned)

  from seq2seq_jax.bench.cli import main

  main()
