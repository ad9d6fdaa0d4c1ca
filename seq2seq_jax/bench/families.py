"""The benchmark's model families at the tutorials' sizes: the Flax model, its training
settings and loss, the PyTorch reference's train step and decoders, and random batches."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import numpy as np

from seq2seq_jax import train
from seq2seq_jax.config import train_config
from seq2seq_jax.models.classifier import CharClassifier
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from seq2seq_jax.models.transformer import Transformer, TransformerConfig
from seq2seq_jax.tasks import classification, translation

MODELS = ("transformer", "gru_attention", "bigru", "char_rnn")
# The batches each family runs at by default: 64, plus 1 where the reference's figure is batch 1.
DEFAULT_BATCHES = {
  "transformer": (64,),
  "gru_attention": (64, 1),
  "bigru": (64,),
  "char_rnn": (64, 1),
}
DEFAULT_LENGTHS = {
  "transformer": (24, 24),
  "gru_attention": (10, 10),
  "bigru": (24, 24),
  "char_rnn": (7, 0),
}  # char_rnn: name length (letters), no target
# the bi-GRU family (the PaddlePaddle chapter's): bidirectional encoder, additive attention
BIGRU = dict(bidirectional=True, attention="additive", max_length=0, bridge="tanh", dropout=0.0)
BOS, EOS = 2, -1  # eos -1: every decode runs the full max_len (random weights)
BEAM = 4


def create_state(model, init_args, **train_kw):
  """The training code's own TrainState for `model`, with train_config(**train_kw)."""
  config = ml_collections.ConfigDict({"seed": 0, "train": train_config(**train_kw)})
  return train.create_state(model, init_args, config)


def seq2seq_batch(rng, b: int, s: int, t: int, src_vocab: int, tgt_vocab: int) -> dict:
  """Random unpadded batch: src [b,s], tgt_in = <sos> y [b,t], tgt_out = y [b,t], lengths."""
  src = rng.integers(4, src_vocab, (b, s)).astype(np.int32)
  tgt = rng.integers(4, tgt_vocab, (b, t + 1)).astype(np.int32)
  tgt[:, 0] = BOS
  return {
    "src": src,
    "src_len": np.full((b,), s, np.int32),
    "tgt_in": tgt[:, :-1],
    "tgt_out": tgt[:, 1:],
    "tgt_len": np.full((b,), t, np.int32),
  }


def _transformer(quick: bool) -> dict:
  import torch

  from seq2seq_jax.interop import torch_models

  cfg = (
    TransformerConfig(50, 60, hid=32, enc_layers=1, dec_layers=1, heads=2, ff=64)
    if quick
    else TransformerConfig(src_vocab_size=9597, tgt_vocab_size=7704)
  )
  model = Transformer(cfg)

  def build_torch(bf16: bool = False):
    tm = torch_models.build_transformer(cfg, src_pad_idx=1, trg_pad_idx=1)
    opt = torch.optim.Adam(tm.parameters(), lr=5e-4)
    crit = torch.nn.CrossEntropyLoss(ignore_index=1)
    # bf16: the forward and the loss under autocast (fp32 weights and optimizer), as
    # PyTorch's mixed-precision recipe does; backward follows the forward's dtypes
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def step(batch):  # the tutorial's train loop body, batched
      tm.train()
      src, tgt = batch["t_src"], batch["t_tgt"]
      opt.zero_grad()
      with autocast():
        out, _ = tm(src, tgt[:, :-1])
        loss = crit(out.reshape(-1, out.shape[-1]).float(), tgt[:, 1:].reshape(-1))
      loss.backward()
      torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
      opt.step()

    def greedy(src_ids, max_len):
      return torch_models.translate_sentence(tm, src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len)

    def beam(src_ids, max_len):
      return torch_models.beam_search(
        tm, src_ids, bos_id=BOS, eos_id=EOS, beam_size=BEAM, max_len=max_len
      )

    return step, greedy, beam

  return dict(
    model=model,
    vocab=(cfg.src_vocab_size, cfg.tgt_vocab_size),
    train_kw=dict(optimizer="adam", learning_rate=5e-4, clip=1.0),
    loss=translation.make_loss_fn(model, 0.0),
    build_torch=build_torch,
    torch_batched=True,
    bf16=True,  # build_torch(bf16=True): a bf16 training row (bench --bf16)
  )


def _rnn_translator(name: str, quick: bool) -> dict:
  import torch

  from seq2seq_jax.interop import torch_rnn_models

  h = 32 if quick else 256
  if name == "gru_attention":
    vocab = (50, 60) if quick else (4489, 2925)
    switches = dict(
      attention="fixed", max_length=8 if quick else 10, fixed_slots="all", bridge="copy"
    )
  else:
    vocab = (50, 60) if quick else (8003, 8003)
    switches = BIGRU
  cfg = RNNSeq2SeqConfig(vocab[0], vocab[1], embed=h, hidden=h, **switches)
  model = RNNSeq2Seq(cfg)

  def build_torch():
    ref = torch_rnn_models.build_translator(cfg)

    def step(batch):  # the tutorial's loop: one pair per SGD step, B pairs
      ref.train()
      for src_ids, tgt_ids in batch["pairs"]:
        torch_rnn_models.train_pair(ref, opt, src_ids, tgt_ids)

    opt = torch.optim.SGD(ref.parameters(), lr=0.01)
    ref.eval()

    def greedy(src_ids, max_len):
      ref.eval()
      return ref.greedy(src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len)

    def beam(src_ids, max_len):
      return ref.beam_search(src_ids, bos_id=BOS, eos_id=EOS, max_len=max_len, beam_size=BEAM)

    return step, greedy, beam

  return dict(
    model=model,
    vocab=vocab,
    max_length=cfg.max_length,
    train_kw=dict(optimizer="sgd", learning_rate=0.01, clip=0.0),
    loss=translation.make_loss_fn(model, 0.0, "sequence"),
    build_torch=build_torch,
    torch_batched=False,
  )


def _char_rnn(quick: bool) -> dict:
  import torch

  from seq2seq_jax.interop import torch_classifier

  letters, classes = 57, 18
  model = CharClassifier(
    num_classes=classes, num_letters=letters, cell="tutorial", hidden=16 if quick else 128
  )

  def build_torch():
    ref = torch_classifier.RNN(letters, model.hidden, classes)
    opt = torch.optim.SGD(ref.parameters(), lr=0.005)

    def step(batch):  # the tutorial's train(): one name per SGD step, B names
      for onehot, label in batch["names"]:
        opt.zero_grad()
        out = ref.classify(onehot)
        loss = torch.nn.functional.cross_entropy(out, label)
        loss.backward()
        opt.step()

    return step, None, None

  return dict(
    model=model,
    vocab=(letters, classes),
    train_kw=dict(optimizer="sgd", learning_rate=0.005, clip=0.0),
    loss=classification.make_loss_fn(model, 0.0, np.ones(classes, np.float32)),
    build_torch=build_torch,
    torch_batched=False,
  )


def family(name: str, quick: bool) -> dict:
  """-> dict(model, vocab, train_kw, loss, build_torch, torch_batched[, max_length]) for a
  family at its sizes; build_torch() -> (train step, greedy, beam) of the reference."""
  if name == "transformer":
    return _transformer(quick)
  if name in ("gru_attention", "bigru"):
    return _rnn_translator(name, quick)
  if name == "char_rnn":
    return _char_rnn(quick)
  raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")


def batches(name: str, fam: dict, batch: int, src_len: int, tgt_len: int) -> dict:
  """The same random examples for both sides: -> dict(jax batch, init_args, torch batch,
  units, per_step, src_len) (src_len capped at a fixed-slot model's max_length)."""
  import torch

  rng = np.random.default_rng(0)
  if name == "char_rnn":
    letters, classes = fam["vocab"]
    chars = rng.integers(1, letters + 1, (batch, src_len)).astype(np.int32)
    jbatch = {
      "chars": chars,
      "length": np.full((batch,), src_len, np.int32),
      "label": rng.integers(0, classes, (batch,)).astype(np.int32),
      "index": np.arange(batch, dtype=np.int32),
    }
    init_args = (jnp.asarray(chars[:1]), jnp.asarray(jbatch["length"][:1]))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(chars).long() - 1, letters).float()
    tbatch = {
      "names": [(onehot[i][:, None], torch.tensor([int(jbatch["label"][i])])) for i in range(batch)]
    }
    units, per_step = "examples", batch
  else:
    src_len = min(src_len, fam.get("max_length") or src_len)
    jbatch = seq2seq_batch(rng, batch, src_len, tgt_len, *fam["vocab"])
    init_args = tuple(jnp.asarray(jbatch[k][:1]) for k in ("src", "src_len", "tgt_in"))
    full = np.concatenate([jbatch["tgt_in"], jbatch["tgt_out"][:, -1:]], axis=1)
    tbatch = {
      "t_src": torch.from_numpy(jbatch["src"]).long(),
      "t_tgt": torch.from_numpy(full).long(),
      "pairs": [(jbatch["src"][i].tolist(), full[i].tolist()) for i in range(batch)],
    }
    units, per_step = "target tokens", batch * tgt_len
  return dict(
    jax=jbatch, init_args=init_args, torch=tbatch, units=units, per_step=per_step, src_len=src_len
  )
