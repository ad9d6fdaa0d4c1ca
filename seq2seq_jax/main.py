"""Entry point: python -m seq2seq_jax.main --config=configs/<name>.py [--mode=...] (see cli.py)."""

if __name__ == "__main__":
  from seq2seq_jax import malloc

  malloc.restart_tuned()  # before anything allocates: glibc reads its tunables at start-up

  from absl import app

  from seq2seq_jax import cli

  app.run(cli.main, flags_parser=cli.parse_flags)
