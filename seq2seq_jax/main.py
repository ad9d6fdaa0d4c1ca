"""Entry point: python -m seq2seq_jax.main --config=configs/<name>.py [--mode=...] (see cli.py)."""

from absl import app

from seq2seq_jax import cli

if __name__ == "__main__":
  app.run(cli.main, flags_parser=cli.parse_flags)
