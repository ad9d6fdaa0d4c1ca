"""The worked import example for the RNN tutorial: train the seq2seq tutorial's EncoderRNN +
AttnDecoderRNN with its own per-pair loop on eng-fra (fra -> eng), save them as a tutorial
user has them, import them with `python -m seq2seq_jax.interop`, and print seq2seq_jax's
greedy `--mode=translate` next to the tutorial's `evaluate` for a few test sentences.

  python experiments/parity/make_torch_rnn_example.py --out=runs/torch_gru_attention

Data: the tutorial's filtered pairs (configs/gru_attention.py; ../shared/data/eng-fra),
vocabularies over all of them with SOS=0 / EOS=1 as the tutorial's Lang. Training: the
tutorial's loop one pair at a time with teacher forcing, Adam (lr 3e-3: faster than the
tutorial's SGD 0.01 in a short run) for --seconds (~12,000 pairs in 150 s on a loaded
2-core CPU). Writes OUT/encoder.pt, OUT/decoder.pt
(`torch.save(encoder1.state_dict())`, `torch.save(attn_decoder1.state_dict())`),
OUT/fra.txt and OUT/eng.txt (one word a line in index order: the Lang's index2word),
then the imported work directory OUT/imported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from seq2seq_jax.data.registry import load_parallel  # noqa: E402
from seq2seq_jax.data.vocab import SPECIALS, Vocab  # noqa: E402
from seq2seq_jax.interop import torch_rnn_models as trm  # noqa: E402
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2SeqConfig  # noqa: E402

CONFIG = ROOT / "configs" / "gru_attention.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(CONFIG), "Data settings.")
_OUT = flags.DEFINE_string("out", "runs/torch_gru_attention", "Output directory.")
_SECONDS = flags.DEFINE_float("seconds", 150.0, "Training time budget.")
_HIDDEN = flags.DEFINE_integer("hidden", 128, "hidden_size (the tutorial: 256).")
_SHOW = flags.DEFINE_integer("show", 10, "Test sentences to translate.")
_LR = flags.DEFINE_float("lr", 3e-3, "Adam learning rate.")
_SEED = flags.DEFINE_integer("seed", 1234, "torch and pair-order seed.")


def main(argv: list[str]) -> None:
  del argv
  torch.set_num_threads(1)
  torch.manual_seed(_SEED.value)
  config = _CONFIG.value
  data = load_parallel(config.data)
  specials, roles = SPECIALS["tutorial"]
  pairs = data.train + data.validation + data.test  # the tutorial's Lang sees every pair
  fra = Vocab.build((s for s, _ in pairs), specials=specials, **roles)
  eng = Vocab.build((t for _, t in pairs), specials=specials, **roles)
  cfg = RNNSeq2SeqConfig(
    len(fra),
    len(eng),
    embed=_HIDDEN.value,
    hidden=_HIDDEN.value,
    attention="fixed",
    fixed_slots="all",
    max_length=10,
    dropout=0.1,
  )
  model = trm.build_translator(cfg)
  optimizer = torch.optim.Adam(model.parameters(), lr=_LR.value)
  src_ids = lambda words: fra.encode(words)[0] + [fra.eos_id]  # tensorFromSentence
  rng = np.random.default_rng(_SEED.value)
  t0, step, total = time.time(), 0, 0.0
  model.train()
  while time.time() - t0 < _SECONDS.value:
    s, t = data.train[rng.integers(len(data.train))]
    total += trm.train_pair(
      model, optimizer, src_ids(s), [eng.bos_id] + eng.encode(t)[0] + [eng.eos_id]
    )
    step += 1
    if step % 2000 == 0:
      print(f"{step:6d} pairs | loss {total / 2000:.3f} | {time.time() - t0:.0f} s", flush=True)
      total = 0.0
  model.eval()

  out = Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  torch.save(model.encoder.state_dict(), out / "encoder.pt")
  torch.save(model.decoder.state_dict(), out / "decoder.pt")
  (out / "fra.txt").write_text("\n".join(fra.tokens) + "\n")
  (out / "eng.txt").write_text("\n".join(eng.tokens) + "\n")
  print(
    f"trained {step} pairs in {time.time() - t0:.0f} s; wrote {out}/encoder.pt, "
    "decoder.pt, fra.txt, eng.txt"
  )

  shown = data.test[: _SHOW.value]
  theirs = [
    " ".join(eng.decode(model.greedy(src_ids(s), eng.bos_id, eng.eos_id, 10))) for s, _ in shown
  ]
  workdir = out / "imported"
  model_flags = [
    f"--config={CONFIG}",
    f"--config.model.embed={_HIDDEN.value}",
    f"--config.model.hidden={_HIDDEN.value}",
    "--config.model.fixed_slots=all",
  ]
  cmd = [
    sys.executable,
    "-m",
    "seq2seq_jax.interop",
    *model_flags,
    f"--encoder_state_dict={out / 'encoder.pt'}",
    f"--decoder_state_dict={out / 'decoder.pt'}",
    f"--src_vocab={out / 'fra.txt'}",
    f"--tgt_vocab={out / 'eng.txt'}",
    f"--workdir={workdir}",
  ]
  print("$", " ".join(cmd[2:]))
  subprocess.run(cmd, check=True, cwd=ROOT)
  cmd = [
    sys.executable,
    "-m",
    "seq2seq_jax.main",
    "--mode=translate",
    f"--workdir={workdir}",
    f"--config={CONFIG}",
    "--config.decode.beam_size=1",
    "--config.decode.nbest=1",
    *[" ".join(s) for s, _ in shown],
  ]
  print("$", " ".join(cmd[2:]))
  lines = subprocess.run(
    cmd, check=True, cwd=ROOT, capture_output=True, text=True
  ).stdout.splitlines()
  ours = [line.split(" ", 2) for line in lines[1::2]]
  print(
    "\n| source | reference | PyTorch (tutorial's `evaluate`) | seq2seq_jax "
    "(`--mode=translate`, greedy) | log-prob |\n|---|---|---|---|---|"
  )
  for (s, t), th, (_, logp, *words) in zip(shown, theirs, ours):
    print(f"| {' '.join(s)} | {' '.join(t)} | {th} | {' '.join(words)} | {logp} |")
  same = sum(th == " ".join(words) for th, (_, _, *words) in zip(theirs, ours))
  print(f"\n{same}/{len(shown)} identical")


if __name__ == "__main__":
  app.run(main)
