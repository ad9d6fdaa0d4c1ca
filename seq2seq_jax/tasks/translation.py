"""The translation task: vocabularies, batches, loss, decoding, BLEU, and translate mode.

Batches (fixed shapes from data/pipeline.py):
  src [B,S]  src_len [B]   source ids, with <sos>/<eos> when data.src_bos_eos
  tgt_in [B,T] tgt_out [B,T] tgt_len [B]   <sos> y  /  y <eos>
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import decoding, metrics, plots
from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.data.registry import load_parallel
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.data.vocab import SPECIALS, Vocab
from seq2seq_jax.errors import ConfigError, DataError
from seq2seq_jax.tasks.base import Task

log = logging.getLogger("seq2seq_jax")

SRC_VOCAB, TGT_VOCAB = "vocab_src.json", "vocab_tgt.json"


def make_model(config, src_vocab: Vocab, tgt_vocab: Vocab):
  m = config.model
  if m.name == "transformer":
    from seq2seq_jax.models.transformer import Transformer, TransformerConfig

    longest = max(config.decode.max_len, max(config.data.bucket_edges))
    if longest > m.max_len:
      raise ConfigError(
        f"decode.max_len / data.bucket_edges reach {longest} positions but "
        f"model.max_len is {m.max_len}: lower them or raise model.max_len."
      )

    return Transformer(
      TransformerConfig(
        src_vocab_size=len(src_vocab),
        tgt_vocab_size=len(tgt_vocab),
        hid=m.hid,
        enc_layers=m.enc_layers,
        dec_layers=m.dec_layers,
        heads=m.heads,
        ff=m.ff,
        dropout=m.dropout,
        max_len=m.max_len,
        positions=m.positions,
        norm=m.norm,
        shared_layer_norm=m.shared_layer_norm,
        dropout_rng=m.get("dropout_rng", "hash"),
      )
    )
  if m.name == "rnn":
    from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig

    return RNNSeq2Seq(RNNSeq2SeqConfig.from_config(m, len(src_vocab), len(tgt_vocab)))
  raise ConfigError(f"unknown model.name {m.name!r} for translation; known: transformer, rnn.")


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
  if d.get("specials", "torchtext") not in SPECIALS:
    raise ConfigError(f"unknown data.specials {d.specials!r}; use one of {', '.join(SPECIALS)}.")
  specials, roles = SPECIALS[d.get("specials", "torchtext")]
  pairs = [p for split in d.get("vocab_splits", ("train",)) for p in data.split(split)]
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


def normalise(config, sentence: str) -> list[str]:
  """Tokens by `data.tokenizer`: "" whitespace (lowercased when data.lowercase),
  "tutorial" the seq2seq tutorial's normalizeString, "chars" one token per character."""
  tokenizer = config.data.get("tokenizer", "")
  if tokenizer == "chars":
    return list(sentence.strip())
  if tokenizer == "tutorial":
    from seq2seq_jax.data.sources.tatoeba import tokenize

    return tokenize(sentence)
  return (sentence.lower() if config.data.lowercase else sentence).split()


def join_tokens(config, tokens: Sequence[str]) -> str:
  return ("" if config.data.get("tokenizer", "") == "chars" else " ").join(tokens)


def source_affixes(config, vocab: Vocab) -> tuple[list[str], list[str]]:
  """Tokens around a source sentence: <sos> w <eos> (data.src_bos_eos), w <eos>
  (data.src_eos: the seq2seq tutorial), or none."""
  if config.data.src_bos_eos:
    return [vocab.bos], [vocab.eos]
  return [], ([vocab.eos] if config.data.get("src_eos", False) else [])


def encode_source(config, vocab: Vocab, words: Sequence[str]) -> tuple[list[int], list[str]]:
  ids, oov = vocab.encode(words)
  head, tail = source_affixes(config, vocab)
  return [vocab.id(t) for t in head] + ids + [vocab.id(t) for t in tail], oov


def pad_source(config, vocab: Vocab, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
  """One source -> src [1, bucket edge], src_len [1]."""
  edges = tuple(config.data.bucket_edges)
  if len(ids) > edges[-1]:
    raise DataError(
      f"a source of {len(ids)} tokens is longer than the largest bucket "
      f"{edges[-1]}: shorten it or raise data.bucket_edges."
    )
  src = np.full((1, edges[int(np.searchsorted(edges, len(ids)))]), vocab.pad_id, np.int32)
  src[0, : len(ids)] = ids
  return src, np.array([len(ids)], np.int32)


def make_dataset(
  config, pairs, src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int, *, drop_long: bool
) -> BucketedDataset:
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
  return BucketedDataset(
    examples,
    np.asarray(lengths),
    edges,
    batch_size,
    pad_values=dict(src=src_vocab.pad_id, tgt_in=tgt_vocab.pad_id, tgt_out=tgt_vocab.pad_id),
  )


def init_args(config) -> tuple:
  """Dummy (src, src_len, tgt_in) that `model.init` traces once."""
  edge = config.data.bucket_edges[0]
  ones = jnp.ones((1, edge), jnp.int32)
  return ones, jnp.full((1,), edge, jnp.int32), ones


def make_loss_fn(model, label_smoothing: float, reduction: str = "token"):
  """Token cross entropy over real target positions; label smoothing only in training.

  The minimised loss is its mean over the batch's tokens (`reduction="token"`) or each
  sequence's sum averaged over the sequences ("sequence": the seq2seq tutorial's SGD
  step on one pair's summed loss). Models with `uses_step` (scheduled sampling) also get
  the training step.
  """
  if reduction not in ("token", "sequence"):
    raise ConfigError(f"unknown train.loss_reduction {reduction!r}; use token or sequence.")

  def loss_fn(params, batch, rng, train: bool):
    kw = {"step": batch["step"]} if train and getattr(model, "uses_step", False) else {}
    logits, _ = model.apply(
      params, batch["src"], batch["src_len"], batch["tgt_in"], train, rngs={"dropout": rng}, **kw
    )
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    mask = (jnp.arange(logits.shape[1])[None] < batch["tgt_len"][:, None]).astype(jnp.float32)
    nll = -jnp.take_along_axis(logp, batch["tgt_out"][..., None], axis=-1)[..., 0]
    per_tok = nll
    if train and label_smoothing:
      per_tok = (1 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)
    weight = mask.sum()
    correct = (jnp.argmax(logits, -1) == batch["tgt_out"]) * mask
    sums = {"loss_sum": (nll * mask).sum(), "weight": weight, "correct": correct.sum()}
    count = weight if reduction == "token" else (batch["tgt_len"] > 0).sum()
    if reduction != "token":  # the minimised loss's normaliser (train.grad_accum_steps)
      sums["loss_norm"] = count.astype(jnp.float32)
    return (per_tok * mask).sum() / jnp.maximum(count, 1.0), sums

  return loss_fn


def summarize(sums: dict[str, float]) -> dict[str, float]:
  loss = sums["loss_sum"] / max(sums["weight"], 1.0)
  return {
    "loss": loss,
    "ppl": metrics.perplexity(loss),
    "token_accuracy": 100.0 * sums["correct"] / max(sums["weight"], 1.0),
  }


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
  """Best hypothesis per example (dataset order), plus timing and greedy attention."""
  hyps: list[list[str] | None] = [None] * len(data.examples)
  attention = {}
  t0 = time.time()
  for batch in data.batches():
    out = jax.device_get(
      search(model, params, batch["src"], batch["src_len"], config, tgt_vocab, beam_size=beam_size)
    )
    for row, i in enumerate(batch["index"]):
      if i >= 0:
        hyps[i] = tgt_vocab.decode(out["tokens"][row, 0])
        if i == 0 and "attention" in out:
          attention = {"weights": out["attention"][row], "length": int(out["lengths"][row, 0])}
  seconds = time.time() - t0
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
  datasets = {
    "train": make_dataset(config, data.train, src_vocab, tgt_vocab, bs, drop_long=True),
    "validation": make_dataset(config, data.validation, src_vocab, tgt_vocab, ebs, drop_long=False),
    "test": make_dataset(config, data.test, src_vocab, tgt_vocab, ebs, drop_long=False),
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
        att = info["attention"]
        if att:
          head, tail = source_affixes(config, src_vocab)
          src_tokens = head + srcs[0] + tail
          out_tokens = hyps[0] + [tgt_vocab.eos]
          path = workdir / f"attention_{split}0.png"
          plots.attention_map(
            att["weights"][: len(out_tokens), : len(src_tokens)],
            src_tokens,
            out_tokens,
            path,
            title=" ".join(srcs[0]),
          )
          out["attention_png"] = str(path)
    if split == "test" and config.decode.get("attention_sentences", ()):
      out["attention_pngs"] = attention_maps(config, workdir, model, params, src_vocab, tgt_vocab)
    return out

  def on_epoch_end(params, epoch: int) -> None:
    """Prints the greedy translations of the first decode.epoch_samples validation pairs."""
    n = config.decode.get("epoch_samples", 0)
    hyps, _ = decode_dataset(model, params, datasets["validation"], tgt_vocab, config, beam_size=1)
    shown = [
      f"{join_tokens(config, p[0])} -> {join_tokens(config, h)}"
      for p, h in zip(data.validation[:n], hyps[:n])
    ]
    log.info("epoch %d greedy: %s", epoch, " | ".join(shown))

  return Task(
    model=model,
    init_args=init_args(config),
    train_data=datasets["train"],
    eval_data={k: v for k, v in datasets.items() if k != "train"},
    loss_fn=make_loss_fn(
      model, config.train.label_smoothing, config.train.get("loss_reduction", "token")
    ),
    summarize=summarize,
    report=report,
    on_epoch_end=on_epoch_end if config.decode.get("epoch_samples", 0) else None,
  )


def attention_maps(
  config, workdir: Path, model, params, src_vocab: Vocab, tgt_vocab: Vocab
) -> list[str]:
  """Greedy-translates each of `decode.attention_sentences`; writes attention_<i>.png."""
  paths = []
  for i, sentence in enumerate(config.decode.attention_sentences):
    words = normalise(config, sentence)
    ids, _ = encode_source(config, src_vocab, words)
    src, src_len = pad_source(config, src_vocab, ids)
    out = jax.device_get(
      decoding.greedy_search(
        model,
        params,
        jnp.asarray(src),
        jnp.asarray(src_len),
        max_len=config.decode.max_len,
        bos_id=tgt_vocab.bos_id,
        eos_id=tgt_vocab.eos_id,
      )
    )
    n = int(out["lengths"][0])
    out_tokens = tgt_vocab.decode(out["tokens"][0, :n]) + [tgt_vocab.eos]
    head, tail = source_affixes(config, src_vocab)
    src_tokens = head + words + tail
    path = workdir / f"attention_{i}.png"
    plots.attention_map(
      out["attention"][0, : len(out_tokens), : len(src_tokens)],
      src_tokens,
      out_tokens,
      path,
      title=" ".join(words),
    )
    log.info("attention map %s: %s -> %s", path, " ".join(words), " ".join(out_tokens))
    paths.append(str(path))
  return paths


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
  import sys

  from seq2seq_jax.errors import UserError
  from seq2seq_jax.train import restore_params

  src_vocab, tgt_vocab = vocabs_for(config, workdir, None)
  model = make_model(config, src_vocab, tgt_vocab)
  params = restore_params(model, init_args(config), config, workdir)
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
