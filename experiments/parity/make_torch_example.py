"""The worked import example, PyTorch side: train the tutorial's transformer with the
tutorial's own loop, save it as a tutorial user has it, print its greedy translations.

  python experiments/parity/make_torch_example.py --out=runs/torch_numbers \
      "twenty one" "three hundred forty two" ...

Data: the embedded numbers set (English number words -> French; no download),
vocabularies built like torchtext's (specials <unk> <pad> <sos> <eos>, then by
frequency, min_freq 2). Writes OUT/model.pt (`torch.save(model.state_dict())`),
OUT/src.txt and OUT/tgt.txt (one token a line, in index order: the tutorial's
`"\\n".join(SRC.vocab.itos)`). README "PyTorch parity and importing weights"
imports them with `python -m seq2seq_jax.interop` and translates with seq2seq_jax.
"""

from __future__ import annotations

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
from seq2seq_jax.data.vocab import Vocab  # noqa: E402
from seq2seq_jax.interop import torch_models as tm  # noqa: E402
from seq2seq_jax.models.transformer import TransformerConfig  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
  "config", str(ROOT / "configs" / "transformer.py"), "Data settings (the numbers set by default)."
)
_OUT = flags.DEFINE_string("out", "runs/torch_numbers", "Output directory.")
_STEPS = flags.DEFINE_integer("steps", 1500, "Training steps (batches of 64).")
_HID = flags.DEFINE_integer("hid", 64, "Model width (heads 4, ff 2*hid, 2+2 layers).")
_SEED = flags.DEFINE_integer("seed", 1234, "torch and batch-order seed.")

SENTENCES = (
  "twenty one",
  "three hundred forty two",
  "seventy one",
  "eighty thousand",
  "nine hundred ninety nine thousand nine hundred ninety nine",
)


def encode(vocab: Vocab, words: list[str], bos_eos: bool) -> list[int]:
  ids = vocab.encode(words)[0]
  return [vocab.bos_id] + ids + [vocab.eos_id] if bos_eos else ids


def main(argv: list[str]) -> None:
  torch.set_num_threads(1)
  torch.manual_seed(_SEED.value)
  data = load_parallel(_CONFIG.value.data)
  src_vocab = Vocab.build((s for s, _ in data.train), min_freq=2)
  tgt_vocab = Vocab.build((t for _, t in data.train), min_freq=2)
  cfg = TransformerConfig(
    len(src_vocab),
    len(tgt_vocab),
    hid=_HID.value,
    enc_layers=2,
    dec_layers=2,
    heads=4,
    ff=2 * _HID.value,
    dropout=0.1,
    max_len=32,
  )
  model = tm.build_transformer(cfg, src_vocab.pad_id, tgt_vocab.pad_id)
  print(f"The model has {tm.count_parameters(model):,} trainable parameters")

  pad = lambda seqs, value: torch.nn.utils.rnn.pad_sequence(
    [torch.tensor(s) for s in seqs], batch_first=True, padding_value=value
  )
  rng = np.random.default_rng(_SEED.value)

  def batches(n):
    for _ in range(n):
      pairs = [data.train[i] for i in rng.integers(0, len(data.train), 64)]
      yield (
        pad([encode(src_vocab, s, True) for s, _ in pairs], src_vocab.pad_id),
        pad([encode(tgt_vocab, t, True) for _, t in pairs], tgt_vocab.pad_id),
      )

  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  criterion = torch.nn.CrossEntropyLoss(ignore_index=tgt_vocab.pad_id)
  t0 = time.time()
  for epoch in range(0, _STEPS.value, 250):
    loss = tm.train_epoch(
      model, batches(min(250, _STEPS.value - epoch)), optimizer, criterion, clip=1.0
    )
    print(f"step {epoch + 250:5d} | train loss {loss:.3f} | {time.time() - t0:.0f} s")

  out = Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  torch.save(model.state_dict(), out / "model.pt")
  (out / "src.txt").write_text("\n".join(src_vocab.tokens) + "\n")
  (out / "tgt.txt").write_text("\n".join(tgt_vocab.tokens) + "\n")
  print(
    f"wrote {out}/model.pt, src.txt, tgt.txt; PyTorch greedy translations "
    "(the tutorial's translate_sentence):"
  )
  for sentence in argv[1:] or SENTENCES:
    ids = tm.translate_sentence(
      model,
      encode(src_vocab, sentence.lower().split(), True),
      tgt_vocab.bos_id,
      tgt_vocab.eos_id,
      max_len=24,
    )
    print(f"> {sentence}\n  {' '.join(tgt_vocab.decode(ids))}")


if __name__ == "__main__":
  app.run(main)
