"""The translation task: vocabularies, batches, loss, decoding, BLEU, and translate mode.

Batches (fixed shapes from data/pipeline.py):
  src [B,S]  src_len [B]   source ids, with <sos>/<eos> when data.src_bos_eos
  tgt_in [B,T] tgt_out [B,T] tgt_len [B]   <sos> y  /  y <eos>
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import decoding, metrics, train
from seq2seq_jax.config import models as config_models
from seq2seq_jax.data.pipeline import BucketedDataset, fit_edges
from seq2seq_jax.data.registry import load_parallel
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.data.vocab import SPECIALS, Vocab
from seq2seq_jax.errors import ConfigError, DataError, UserError
from seq2seq_jax.tasks.base import (
  Sums,
  Task,
  init_inputs,
  loss_ppl_line,
  map_dataset,
  percent,
  sequence_loss,
)
from seq2seq_jax.tasks.sentences import (
  attention_maps,
  encode_source,
  join_tokens,
  normalise,
  pad_source,
  plot_attention,
)

log = logging.getLogger("seq2seq_jax")

SRC_VOCAB, TGT_VOCAB = "vocab_src.json", "vocab_tgt.json"
RUN_FILES = (SRC_VOCAB, TGT_VOCAB)  # what the run directory holds besides config and checkpoints


def make_model(config, src_vocab: Vocab, tgt_vocab: Vocab):
  """config.model (transformer | rnn) -> the translator for these vocabularies."""
  m = config.model
  if m.name == "transformer":
    longest = max(config.decode.max_len, max(config.data.bucket_edges))
    if longest > m.max_len:
      raise ConfigError(
        f"decode.max_len / data.bucket_edges reach {longest} positions but "
        f"model.max_len is {m.max_len}: lower them or raise model.max_len."
      )
  return config_models.make_model(
    m, "translation", src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab)
  )


def length_limit(config) -> tuple[int, str] | None:
  """The longest padded length the model takes and the key that sets it (None: no limit):
  the transformer's positions, the fixed-length attention's slots."""
  m = config.model
  if m.name == "transformer":
    return m.max_len, "model.max_len"
  if m.name == "rnn" and m.attention == "fixed":
    return m.max_length, "model.max_length"
  return None


def vocabs_for(config, workdir: Path, data: ParallelText | None) -> tuple[Vocab, Vocab]:
  """Loads the run's saved vocabularies, or builds them and saves them.

  Built from the `data.vocab_splits` (default train; the seq2seq tutorial counts all
  its pairs) with the `data.specials` set of special tokens (default torchtext's).
  """
  if (workdir / SRC_VOCAB).exists():
    return Vocab.load(workdir / SRC_VOCAB), Vocab.load(workdir / TGT_VOCAB)
  if data is None:
    raise DataError(f"{workdir} has no {SRC_VOCAB}: is it a trained seq2seq_jax work directory?")
  d = config.data
  if d.specials not in SPECIALS:
    raise ConfigError(f"unknown data.specials {d.specials!r}; use one of {', '.join(SPECIALS)}.")
  specials, roles = SPECIALS[d.specials]
  pairs = [p for split in d.vocab_splits for p in data.split(split)]
  build = lambda side: Vocab.build(
    (p[side] for p in pairs),
    specials=specials,
    min_freq=d.min_freq,
    max_size=d.max_vocab or None,
    **roles,
  )
  src, tgt = build(0), build(1)
  tgt.save(workdir / TGT_VOCAB)  # target first: the source file's presence means both exist
  src.save(workdir / SRC_VOCAB)
  return src, tgt


def make_dataset(
  config,
  pairs,
  src_vocab: Vocab,
  tgt_vocab: Vocab,
  batch_size: int,
  *,
  drop_long: bool,
  split: str = "",
) -> BucketedDataset:
  """The pairs' batches. drop_long (training): pairs longer than the largest bucket edge are
  dropped; else (evaluation) every pair is kept, the longer ones in one more edge up to the
  model's limit (`pipeline.fit_edges`; past it: a DataError)."""
  edges = tuple(config.data.bucket_edges)
  examples, lengths, dropped = [], [], 0
  for src_words, tgt_words in pairs:
    src, _ = encode_source(config, src_vocab, src_words)
    tgt = [tgt_vocab.bos_id] + tgt_vocab.encode(tgt_words)[0] + [tgt_vocab.eos_id]
    length = max(len(src), len(tgt) - 1)
    if drop_long and length > edges[-1]:
      dropped += 1
      continue
    examples.append(
      dict(
        src=np.asarray(src, np.int32),
        src_len=len(src),
        tgt_in=np.asarray(tgt[:-1], np.int32),
        tgt_out=np.asarray(tgt[1:], np.int32),
        tgt_len=len(tgt) - 1,
      )
    )
    lengths.append(length)
  if dropped:
    log.warning("dropped %d training pairs longer than the largest bucket (%d)", dropped, edges[-1])
  if not drop_long:
    what = f"{split} pairs".lstrip()
    edges = fit_edges(edges, lengths, limit=length_limit(config), what=what)
  return BucketedDataset(
    examples,
    np.asarray(lengths),
    edges,
    batch_size,
    pad_values=dict(src=src_vocab.pad_id, tgt_in=tgt_vocab.pad_id, tgt_out=tgt_vocab.pad_id),
  )


def init_args(config) -> tuple:
  """Dummy (src, src_len, tgt_in) that `model.init` traces once."""
  return init_inputs(config, targets=True)


def make_loss_fn(model, label_smoothing: float, reduction: str = "token"):
  """Token cross entropy over real target positions (`base.sequence_loss`); label
  smoothing only in training. Models with `uses_step` (scheduled sampling) also get the
  training step."""
  if reduction not in ("token", "sequence"):
    raise ConfigError(f"unknown train.loss_reduction {reduction!r}; use token or sequence.")

  def loss_fn(params, batch, rng, train: bool, step=0):
    kw = {"step": step} if train and getattr(model, "uses_step", False) else {}
    logits, _ = model.apply(
      params, batch["src"], batch["src_len"], batch["tgt_in"], train, rngs={"dropout": rng}, **kw
    )
    return sequence_loss(
      logits,
      batch["tgt_out"],
      batch["tgt_len"],
      label_smoothing=label_smoothing if train else 0.0,
      reduction=reduction,
    )

  return loss_fn


def summarize(sums: Sums) -> dict[str, float]:
  loss = sums.mean_loss()
  return {"loss": loss, "ppl": metrics.perplexity(loss), "token_accuracy": percent(sums)}


def search(model, params, src, src_len, config, tgt_vocab: Vocab, *, beam_size: int) -> dict:
  """Greedy (beam_size 1) or beam search; greedy results get an n-best axis of size 1.

  src [B,S], src_len [B] -> tokens [B,K,L], lengths [B,K], logprob [B,K] (+ greedy
  attention [B,L,S]).
  """
  kw = dict(max_len=config.decode.max_len, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id)
  src, src_len = jnp.asarray(src), jnp.asarray(src_len)
  if beam_size == 1:
    out = decoding.greedy_search(model, params, src, src_len, **kw)
    return {k: (v if k == "attention" else v[:, None]) for k, v in out.items()}
  return decoding.beam_search(
    model, params, src, src_len, beam_size=beam_size, alpha=config.decode.length_penalty, **kw
  )


def decode_dataset(
  model, params, data: BucketedDataset, tgt_vocab: Vocab, config, *, beam_size: int
) -> tuple[list[list[str]], dict]:
  """Best hypothesis per example (dataset order), plus timing and the first example's
  greedy attention."""

  def rows(batch):
    out = jax.device_get(
      search(model, params, batch["src"], batch["src_len"], config, tgt_vocab, beam_size=beam_size)
    )
    return [
      (tgt_vocab.decode(out["tokens"][r, 0]), out["attention"][r] if "attention" in out else None)
      for r in range(len(batch["index"]))
    ]

  t0 = time.time()
  results = map_dataset(data, rows)
  seconds = time.time() - t0
  hyps = [h for h, _ in results]
  first = results[0][1] if results else None
  attention = {} if first is None else {"weights": first}
  return hyps, {
    "seconds": seconds,
    "sentences_per_second": len(hyps) / seconds,
    "attention": attention,
  }


def build_task(config, workdir: Path) -> Task:
  data = load_parallel(config.data)
  src_vocab, tgt_vocab = vocabs_for(config, workdir, data)
  log.info(
    "vocabularies: %d source, %d target tokens; %d/%d/%d pairs",
    len(src_vocab),
    len(tgt_vocab),
    len(data.train),
    len(data.validation),
    len(data.test),
  )
  model = make_model(config, src_vocab, tgt_vocab)
  bs, ebs = config.train.batch_size, config.train.eval_batch_size
  evaluated = lambda split, pairs: make_dataset(
    config, pairs, src_vocab, tgt_vocab, ebs, drop_long=False, split=split
  )  # every pair kept: the longer ones in one more edge
  datasets = {
    "train": make_dataset(config, data.train, src_vocab, tgt_vocab, bs, drop_long=True),
    "validation": evaluated("validation", data.validation),
    "test": evaluated("test", data.test),
  }

  def report(params, split: str) -> dict:
    refs = [p[1] for p in data.split(split)]
    srcs = [p[0] for p in data.split(split)]
    out = {}
    for beam in sorted({1, *config.decode.eval_beam_sizes}):
      hyps, info = decode_dataset(model, params, datasets[split], tgt_vocab, config, beam_size=beam)
      name = "greedy" if beam == 1 else f"beam{beam}"
      out[f"{name}_bleu"] = metrics.bleu(hyps, refs)
      out[f"{name}_exact_match"] = metrics.exact_match(hyps, refs)
      out[f"{name}_sentences_per_second"] = info["sentences_per_second"]
      log.info(
        "%s %s: BLEU %.2f | exact match %.1f%% | %.1f sentences/s",
        split,
        name,
        out[f"{name}_bleu"],
        out[f"{name}_exact_match"],
        info["sentences_per_second"],
      )
      if beam == 1:
        for i in range(min(config.decode.num_samples, len(hyps))):
          log.info(
            "  src: %s\n  ref: %s\n  hyp: %s",
            join_tokens(config, srcs[i]),
            join_tokens(config, refs[i]),
            join_tokens(config, hyps[i]),
          )
        if info["attention"]:
          path = workdir / f"attention_{split}0.png"
          weights = info["attention"]["weights"]
          plot_attention(config, src_vocab, tgt_vocab, weights, srcs[0], hyps[0], path)
          out["attention_png"] = str(path)
    if split == "test" and config.decode.attention_sentences:
      out["attention_pngs"] = attention_maps(config, workdir, model, params, src_vocab, tgt_vocab)
    return out

  def valid_metrics(params) -> dict[str, float]:
    """Greedy BLEU of the validation set (train.select_by=bleu)."""
    hyps, _ = decode_dataset(model, params, datasets["validation"], tgt_vocab, config, beam_size=1)
    return {"bleu": metrics.bleu(hyps, [p[1] for p in data.validation])}

  def on_epoch_end(params, epoch: int) -> None:
    """Prints the greedy translations of the first decode.epoch_samples validation pairs."""
    n = config.decode.epoch_samples
    hyps, _ = decode_dataset(model, params, datasets["validation"], tgt_vocab, config, beam_size=1)
    shown = [
      f"{join_tokens(config, p[0])} -> {join_tokens(config, h)}"
      for p, h in zip(data.validation[:n], hyps[:n])
    ]
    log.info("epoch %d greedy: %s", epoch, " | ".join(shown))

  return Task.of(
    model,
    init_args(config),
    datasets,
    loss_fn=make_loss_fn(model, config.train.label_smoothing, config.train.loss_reduction),
    summarize=summarize,
    report=report,
    epoch_line=loss_ppl_line,
    valid_metrics=valid_metrics,
    on_epoch_end=on_epoch_end if config.decode.epoch_samples else None,
  )


def translate(
  config,
  workdir: Path,
  params,
  model,
  src_vocab: Vocab,
  tgt_vocab: Vocab,
  sentences: Iterable[str],
  out=print,
) -> int:
  """Prints the n-best list (`rank logprob words`) for each sentence; returns #translated.

  Empty sentences are skipped with a warning; out-of-vocabulary words become
  <unk> and are reported; the stream goes on.
  """
  d = config.decode
  edges = tuple(config.data.bucket_edges)
  nbest = min(d.nbest, d.beam_size)
  done = 0
  for line_no, sentence in enumerate(sentences, 1):
    words = normalise(config, sentence)
    if not words:
      log.warning("line %d: empty sentence skipped", line_no)
      continue
    try:
      ids, oov = encode_source(config, src_vocab, words)
    except DataError as e:  # an unknown word and a vocabulary without <unk>
      log.warning("line %d: %s Skipped.", line_no, e)
      continue
    if oov:
      log.warning(
        "line %d: out-of-vocabulary words mapped to %s: %s", line_no, src_vocab.unk, " ".join(oov)
      )
    if len(ids) > edges[-1]:
      log.warning(
        "line %d: %d tokens is longer than the model's limit %d; skipped",
        line_no,
        len(ids),
        edges[-1],
      )
      continue
    src, src_len = pad_source(config, src_vocab, ids)
    res = jax.device_get(
      search(model, params, src, src_len, config, tgt_vocab, beam_size=d.beam_size)
    )
    out(f"> {sentence.strip()}")
    for rank in range(nbest):
      words_out = tgt_vocab.decode(res["tokens"][0, rank])
      ended = int(res["lengths"][0, rank]) > 0 and (
        res["tokens"][0, rank, res["lengths"][0, rank] - 1] == tgt_vocab.eos_id
      )
      text = join_tokens(config, words_out)
      if ended and d.show_eos:
        text = f"{text} {tgt_vocab.eos}".lstrip()
      out(f"{rank} {float(res['logprob'][0, rank]):.6g} {text}")
    done += 1
  return done


def serve(mode: str, config, workdir: Path, inputs: list[str]) -> None:
  """--mode=translate: n-best lists for the sentences in `inputs`, else stdin's lines."""
  src_vocab, tgt_vocab = vocabs_for(config, workdir, None)
  model = make_model(config, src_vocab, tgt_vocab)
  params = train.restore_params(
    model, init_args(config), config, workdir, train.decode_checkpoint(config)
  )
  n = translate(
    config,
    workdir,
    params,
    model,
    src_vocab,
    tgt_vocab,
    inputs or sys.stdin,
    out=lambda s: print(s, flush=True),
  )
  if n == 0:
    raise UserError("nothing to translate: give sentences as arguments or on stdin.")
