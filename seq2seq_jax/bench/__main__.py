"""python -m seq2seq_jax.bench [flags]: see seq2seq_jax/bench/__init__.py."""

if __name__ == "__main__":
  from seq2seq_jax import malloc

  malloc.restart_tuned()  # both sides run as `python -m seq2seq_jax.main` would (malloc.py)

  from seq2seq_jax.bench.cli import main

  main()
