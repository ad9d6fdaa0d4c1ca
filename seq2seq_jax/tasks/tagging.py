"""The tagging task: one label per input token (the SRN toy: `hello` -> `ohlol`).

Batches (fixed shapes from data/pipeline.py): tokens [B,T], length [B], labels [B,T].
One symbol table serves inputs and labels: the sorted symbols of the training data (the
toy's idx2char e h l o), no specials (padding is masked). Each epoch can print the
predicted strings of the first validation sequences (`decode.epoch_samples`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from seq2seq_jax import metrics
from seq2seq_jax.config.models import make_model
from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.data.registry import load_tagged
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.tasks.base import Sums, Task, init_inputs, map_dataset, percent, sequence_loss

log = logging.getLogger("seq2seq_jax")

SYMBOLS = "vocab_symbols.json"
RUN_FILES = (SYMBOLS,)  # what the run directory holds besides config and checkpoints


def symbols(seqs) -> Vocab:
  """The sorted symbols of (inputs, labels) pairs."""
  return Vocab(
    tuple(sorted({s for x, y in seqs for s in (*x, *y)})), pad=None, bos=None, eos=None, unk=None
  )


def make_dataset(seqs, vocab: Vocab, edges, batch_size: int) -> BucketedDataset:
  examples = [
    dict(
      tokens=np.asarray(vocab.encode(x)[0], np.int32),
      length=len(x),
      labels=np.asarray(vocab.encode(y)[0], np.int32),
    )
    for x, y in seqs
  ]
  return BucketedDataset(examples, np.asarray([len(x) for x, _ in seqs]), tuple(edges), batch_size)


def make_loss_fn(model):
  """Token cross entropy and accuracy over the real steps (`base.sequence_loss`)."""

  def loss_fn(params, batch, rng, train: bool, step=0):
    logits = model.apply(params, batch["tokens"], batch["length"], train, rngs={"dropout": rng})
    return sequence_loss(logits, batch["labels"], batch["length"])

  return loss_fn


def summarize(sums: Sums) -> dict[str, float]:
  return {"loss": sums.mean_loss(), "accuracy": percent(sums)}


def build_task(config, workdir: Path) -> Task:
  splits = load_tagged(config.data)
  if (workdir / SYMBOLS).exists():
    vocab = Vocab.load(workdir / SYMBOLS)
  else:
    vocab = symbols(splits["train"])
    vocab.save(workdir / SYMBOLS)
  model = make_model(config.model, "tagging", num_inputs=len(vocab), num_classes=len(vocab))
  edges = config.data.bucket_edges
  datasets = {
    name: make_dataset(seqs, vocab, edges, config.train.batch_size) for name, seqs in splits.items()
  }

  def predict(params, split: str) -> list[str]:
    def rows(batch):
      pred = np.asarray(jnp.argmax(model.apply(params, batch["tokens"], batch["length"]), -1))
      return ["".join(vocab.tokens[k] for k in p[:n]) for p, n in zip(pred, batch["length"])]

    return map_dataset(datasets[split], rows)

  def report(params, split: str) -> dict:
    hyps = predict(params, split)
    refs = ["".join(y) for _, y in splits[split]]
    for (x, _), h in list(zip(splits[split], hyps))[: config.decode.num_samples]:
      log.info("  %s -> %s", "".join(x), h)
    return {"exact_match": metrics.exact_match(hyps, refs), "predictions": hyps}

  def on_epoch_end(params, epoch: int) -> None:
    shown = predict(params, "validation")[: config.decode.epoch_samples]
    log.info("epoch %d predicted string: %s", epoch, ", ".join(shown))

  return Task.of(
    model,
    init_inputs(config),
    datasets,
    loss_fn=make_loss_fn(model),
    summarize=summarize,
    report=report,
    on_epoch_end=on_epoch_end if config.decode.epoch_samples else None,
  )
