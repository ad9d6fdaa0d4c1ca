"""python -m seq2seq_jax.bench [flags]: see seq2seq_jax/bench/__init__.py."""

from seq2seq_jax.bench.cli import main

if __name__ == "__main__":
  main()
