"""The transformer's parity case: models/transformer.py vs torch_models' tutorial Seq2Seq."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import torch
import torch.nn.functional as F

from seq2seq_jax.interop import torch_models
from seq2seq_jax.interop.parity.common import (
  BOS,
  MODES,
  PAD,
  Diffs,
  compare,
  imported,
  prepare,
  randomize_norms,
  translation_batch,
)
from seq2seq_jax.interop.torch_import import TRANSFORMER
from seq2seq_jax.models.transformer import Transformer, TransformerConfig


def tiny_transformer_config(**switches) -> TransformerConfig:
  """2 + 2 layers of width 32 (4 heads), dropout 0.1, small vocabularies; `switches` override."""
  kw = dict(
    src_vocab_size=23,
    tgt_vocab_size=19,
    hid=32,
    enc_layers=2,
    dec_layers=2,
    heads=4,
    ff=64,
    dropout=0.1,
    max_len=16,
  )
  return TransformerConfig(**{**kw, **switches})


def transformer_parity(cfg: TransformerConfig, seed: int = 0) -> dict[str, Diffs]:
  """Logits, cross attention and loss; gradients of the tutorial's loss
  (CrossEntropyLoss(ignore_index=pad) = translation's masked token mean)."""
  from seq2seq_jax.tasks.translation import make_loss_fn

  torch.manual_seed(seed)
  ref = torch_models.build_transformer(cfg, PAD, PAD)
  randomize_norms(ref)
  rng = np.random.default_rng(seed)
  batch = translation_batch(
    rng, [8, 5, 2], [7, 3, 5], cfg.src_vocab_size, cfg.tgt_vocab_size, PAD, BOS
  )
  src, src_len = batch["src"], batch["src_len"]
  real = np.arange(batch["tgt_in"].shape[1])[None, :] < batch["tgt_len"][:, None]  # [B,T]

  results = {}
  for mode in MODES:
    train = mode == "train"
    model = Transformer(dataclasses.replace(cfg, dropout=0.0) if train else cfg)
    target, variables = imported(ref, TRANSFORMER, model, src[:1], src_len[:1], batch["tgt_in"][:1])
    prepare(ref, train, cfg.dropout)
    logits_t, attention_t = ref(
      torch.from_numpy(src).long(), torch.from_numpy(batch["tgt_in"]).long()
    )
    loss_t = F.cross_entropy(
      logits_t.reshape(-1, cfg.tgt_vocab_size),
      torch.from_numpy(batch["tgt_out"]).long().reshape(-1),
      ignore_index=PAD,
    )
    loss_t.backward()

    loss_fn = make_loss_fn(model, label_smoothing=0.0)
    with jax.default_matmul_precision("highest"):
      logits, attention = model.apply(
        variables, src, src_len, batch["tgt_in"], train, rngs={"dropout": jax.random.key(seed)}
      )
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables, batch, jax.random.key(seed), train
      )
    ours = dict(
      logits=np.asarray(logits)[real],
      attention=np.asarray(attention).transpose(0, 2, 1, 3)[real],
      loss=np.asarray(loss),
    )
    theirs = dict(
      logits=logits_t.detach().numpy()[real],
      attention=attention_t.detach().numpy().transpose(0, 2, 1, 3)[real],
      loss=loss_t.detach().numpy(),
    )
    results[mode] = compare(ours, theirs, grads, ref, TRANSFORMER, target)
  return results
