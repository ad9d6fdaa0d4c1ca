"""The RNN models' parity cases: models/rnn_seq2seq.py's translators and models/classifier.py
vs torch_rnn_models' / torch_classifier's references, run one example at a time."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import torch
import torch.nn.functional as F

from seq2seq_jax.interop import torch_classifier, torch_rnn_models
from seq2seq_jax.interop.parity.common import (
  BOS,
  EOS,
  MODES,
  Diffs,
  compare,
  imported,
  prepare,
  translation_batch,
)


def tiny_rnn_seq2seq_config(**switches):
  """A small models/rnn_seq2seq.py config (embed != hidden, max_length > the batch width)."""
  from seq2seq_jax.models.rnn_seq2seq import RNNSeq2SeqConfig

  kw = dict(
    src_vocab_size=13,
    tgt_vocab_size=11,
    embed=5,
    hidden=6,
    cell="gru",
    attention="fixed",
    fixed_slots="all",
    max_length=9,
    bridge="copy",
    dropout=0.1,
    teacher_forcing=1.0,
  )
  return RNNSeq2SeqConfig(**{**kw, **switches})


def _torch_translator_outputs(ref, cfg, src, src_len, tgt_in, tgt_len):
  """The reference run one sentence at a time (the tutorials' way): per example log-probs
  [T_b,V] and attention [T_b,S_b]; the loss = summed NLL / target tokens."""
  logps, attns = [], []
  for b in range(len(src)):
    s, t = src[b, : src_len[b]].tolist(), tgt_in[b, : tgt_len[b]].tolist()
    if isinstance(ref, torch_rnn_models.Seq2Seq):  # the char toy: one-hot in, logits out
      eye = torch.eye(cfg.src_vocab_size)
      logits = ref(eye[s][None], torch.zeros(1, 1, cfg.hidden), eye[t][None])[:, 0]
      logp, attn = F.log_softmax(logits, -1), torch.zeros(len(t), len(s))
    else:
      logp, attn = ref(s, t)
    logps.append(logp)
    attns.append(attn)
  return logps, attns


def rnn_seq2seq_parity(cfg, seed: int = 0) -> dict[str, Diffs]:
  """models/rnn_seq2seq.py vs torch_rnn_models (the tutorials' per-sentence loops) on a
  padded batch: log-probs and attention on real positions, and translation's token-mean
  loss; gradients of that loss."""
  from seq2seq_jax.interop.torch_import import rnn_seq2seq_mapping
  from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq
  from seq2seq_jax.tasks.translation import make_loss_fn

  torch.manual_seed(seed)
  ref = torch_rnn_models.build_translator(cfg)
  mapping = rnn_seq2seq_mapping(dataclasses.asdict(cfg))
  rng = np.random.default_rng(seed)
  batch = translation_batch(
    rng, [7, 4, 2], [6, 3, 5], cfg.src_vocab_size, cfg.tgt_vocab_size, EOS, BOS
  )
  src, src_len, tgt_len = batch["src"], batch["src_len"], batch["tgt_len"]
  results = {}
  for mode in MODES:
    train = mode == "train"
    mcfg = dataclasses.replace(cfg, dropout=0.0, enc_dropout=0.0) if train else cfg
    model = RNNSeq2Seq(mcfg)
    target, variables = imported(ref, mapping, model, src[:1], src_len[:1], batch["tgt_in"][:1])
    prepare(ref, train, cfg.dropout)
    logps_t, attns_t = _torch_translator_outputs(ref, cfg, src, src_len, batch["tgt_in"], tgt_len)
    loss_t = sum(
      -lp.gather(1, torch.from_numpy(batch["tgt_out"][b, : tgt_len[b]]).long()[:, None]).sum()
      for b, lp in enumerate(logps_t)
    ) / float(tgt_len.sum())
    loss_t.backward()

    loss_fn = make_loss_fn(model, label_smoothing=0.0)

    @jax.jit
    def forward(v, model=model, loss_fn=loss_fn, train=train):
      logits, attention = model.apply(
        v, src, src_len, batch["tgt_in"], train, rngs={"dropout": jax.random.key(seed)}
      )
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        v, batch, jax.random.key(seed), train
      )
      return jax.nn.log_softmax(logits), attention, loss, grads

    with jax.default_matmul_precision("highest"):
      logp, attention, loss, grads = forward(variables)
    logp = np.asarray(logp)
    attention = np.asarray(attention)
    ours = dict(
      loss=np.asarray(loss),
      logp=[logp[b, : tgt_len[b]] for b in range(3)],
      attention=[attention[b, : tgt_len[b], : src_len[b]] for b in range(3)],
    )
    theirs = dict(
      loss=loss_t.detach().numpy(),
      logp=[lp.detach().numpy() for lp in logps_t],
      attention=[a.detach().numpy() for a in attns_t],
    )
    results[mode] = compare(ours, theirs, grads, ref, mapping, target)
  return results


def classifier_parity(cell: str, seed: int = 0, **switches) -> dict[str, Diffs]:
  """models/classifier.py vs torch_classifier.RNN run name by name (the tutorial's loop):
  log-probs and classification's loss (mean NLL); its gradients. Names of 6, 3, 1 letters."""
  from seq2seq_jax.interop.torch_import import CHAR_RNN
  from seq2seq_jax.models.classifier import CharClassifier
  from seq2seq_jax.tasks.classification import make_loss_fn

  kw = dict(
    num_classes=5,
    num_letters=57,
    cell=cell,
    hidden=6,
    num_layers=1,
    bidirectional=False,
    input="onehot",
    embed_dim=4,
    dropout=0.1,
  )
  kw.update(switches)
  torch.manual_seed(seed)
  ref = torch_classifier.RNN(
    57,
    kw["hidden"],
    kw["num_classes"],
    cell=cell,
    num_layers=kw["num_layers"],
    bidirectional=kw["bidirectional"],
    embed_size=kw["embed_dim"] if kw["input"] == "embed" else 0,
    dropout=kw["dropout"],
  )
  rng = np.random.default_rng(seed)
  lengths = np.array([6, 3, 1], np.int32)
  chars = rng.integers(1, 58, (3, 8)).astype(np.int32)
  chars[np.arange(8)[None, :] >= lengths[:, None]] = 0
  batch = dict(
    chars=chars,
    length=lengths,
    label=np.array([4, 0, 2], np.int32),
    index=np.arange(3, dtype=np.int32),
  )
  results = {}
  for mode in MODES:
    train = mode == "train"
    model = CharClassifier(**{**kw, "dropout": 0.0 if train else kw["dropout"]})
    _, variables = imported(ref, CHAR_RNN, model, chars[:1], lengths[:1])
    prepare(ref, train, kw["dropout"])
    logps_t = []
    for b in range(3):
      ids = torch.from_numpy(chars[b, : lengths[b]]).long()
      name = ids if kw["input"] == "embed" else torch.eye(57)[ids - 1][:, None]
      logps_t.append(F.log_softmax(ref.classify(name), -1)[0])
    logps_t = torch.stack(logps_t)
    loss_t = F.nll_loss(logps_t, torch.from_numpy(batch["label"]).long())
    loss_t.backward()

    loss_fn = make_loss_fn(model, 0.0, np.ones(kw["num_classes"], np.float32))

    @jax.jit
    def forward(v, model=model, loss_fn=loss_fn, train=train):
      logp = model.apply(v, chars, lengths, train, rngs={"dropout": jax.random.key(0)})
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        v, batch, jax.random.key(seed), train
      )
      return logp, loss, grads

    with jax.default_matmul_precision("highest"):
      logp, loss, grads = forward(variables)
    results[mode] = compare(
      dict(logp=np.asarray(logp), loss=np.asarray(loss)),
      dict(logp=logps_t.detach().numpy(), loss=loss_t.detach().numpy()),
      grads,
      ref,
      CHAR_RNN,
      variables,
    )
  return results
