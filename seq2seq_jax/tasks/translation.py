"""The translation task: vocabularies, batches, loss, decoding, BLEU, and translate mode.

Batches (fixed shapes from data/pipeline.py):
  src [B,S]  src_len [B]   source ids, with <sos>/<eos> when data.src_bos_eos
  tgt_in [B,T] tgt_out [B,T] tgt_len [B]   <sos> y  /  y <eos>
Training batches with data.packing=True (data/packing.py; the transformer only):
  src, src_segment, src_position [B,S]; tgt_in, tgt_out, tgt_segment, tgt_position [B,T];
  pairs [B]: several pairs per row, told apart by their segment ids
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from seq2seq_jax import decoding, metrics, rundir, train
from seq2seq_jax.config import models as config_models
from seq2seq_jax.data import subwords
from seq2seq_jax.data import token_store as token_store_lib
from seq2seq_jax.data.packing import PackedDataset
from seq2seq_jax.data.pipeline import BucketedDataset, fit_edges, token_batch_sizes, token_rows
from seq2seq_jax.data.registry import load_parallel, stream_parallel
from seq2seq_jax.data.streaming import (
  Blocks,
  PackedStream,
  StreamedDataset,
  StreamedPairs,
  plan_packing,
  read,
)
from seq2seq_jax.data.token_store import TokenStore
from seq2seq_jax.data.types import ParallelText
from seq2seq_jax.data.vocab import SPECIALS, Vocab
from seq2seq_jax.errors import ConfigError, DataError, UserError
from seq2seq_jax.tasks.base import (
  Sums,
  Task,
  head_sequence_loss,
  init_inputs,
  loss_ppl_line,
  map_dataset,
  percent,
  sequence_loss,
)
from seq2seq_jax.tasks.sentences import (
  attention_maps,
  bleu_tokenize,
  encode_source,
  join_tokens,
  normalise,
  pad_source,
  plot_attention,
  read_lines,
  source_affixes,
  subword,
)

log = logging.getLogger("seq2seq_jax")

SRC_VOCAB, TGT_VOCAB = "vocab_src.json", "vocab_tgt.json"
RUN_FILES = (SRC_VOCAB, TGT_VOCAB)  # what the run directory holds besides config and checkpoints
OPTIONAL_RUN_FILES = ("vocab_src.model", "vocab_tgt.model")  # data.tokenizer=sentencepiece


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
  its pairs) with the `data.specials` set of special tokens (default torchtext's); with
  data.tokenizer=sentencepiece, subword vocabularies (data/subwords.py: trained on those
  splits or found in the cache), saved with their models (vocab_src.model, ...).
  """
  if (workdir / SRC_VOCAB).exists():
    return Vocab.load(workdir / SRC_VOCAB), Vocab.load(workdir / TGT_VOCAB)
  if data is None:
    raise DataError(f"{workdir} has no {SRC_VOCAB}: is it a trained seq2seq_jax work directory?")
  d = config.data
  if d.specials not in SPECIALS:
    raise ConfigError(f"unknown data.specials {d.specials!r}; use one of {', '.join(SPECIALS)}.")
  specials, roles = SPECIALS[d.specials]
  counts = collections.Counter(), collections.Counter()  # one pass (a streamed corpus)
  for split in d.vocab_splits:
    for pair in data.split(split):
      counts[0].update(pair[0])
      counts[1].update(pair[1])
  build = lambda side: Vocab.from_counts(
    counts[side], specials=specials, min_freq=d.min_freq, max_size=d.max_vocab or None, **roles
  )
  if subword(config):  # sentencepiece reads the text more than once: a re-iterable view
    src, tgt = subwords.vocabs(d, SplitPairs(data, tuple(d.vocab_splits)))
  else:
    src, tgt = build(0), build(1)
  tgt.save(workdir / TGT_VOCAB)  # target first: the source file's presence means both exist
  src.save(workdir / SRC_VOCAB)
  return src, tgt


@dataclasses.dataclass(frozen=True)
class SplitPairs:
  """The pairs of `splits`, re-read on every iteration (in memory or streamed)."""

  data: Any
  splits: tuple[str, ...]

  def __iter__(self):
    for split in self.splits:
      yield from self.data.split(split)


@dataclasses.dataclass(frozen=True)
class PairEncoder:
  """A pair of word lists -> (length, example): src [S], src_len (with the source's affixes,
  `sentences.source_affixes`), tgt_in [T] = <sos> y, tgt_out [T] = y <eos>, tgt_len; length
  = max(S, T), the bucket's. A target None: the source fields only. Picklable (it runs in
  the grain pipeline's worker processes)."""

  src_vocab: Vocab
  tgt_vocab: Vocab
  head: tuple[int, ...]
  tail: tuple[int, ...]

  @classmethod
  def of(cls, config, src_vocab: Vocab, tgt_vocab: Vocab) -> PairEncoder:
    head, tail = source_affixes(config, src_vocab)
    ids = lambda tokens: tuple(src_vocab.id(t) for t in tokens)
    return cls(src_vocab, tgt_vocab, ids(head), ids(tail))

  def ids(self, src_words, tgt_words) -> tuple[list[int], list[int] | None]:
    """The pair's ids: source (with its affixes), target <sos> y <eos> (None: none)."""
    src = [*self.head, *self.src_vocab.encode(src_words)[0], *self.tail]
    if tgt_words is None:
      return src, None
    v = self.tgt_vocab
    return src, [v.bos_id, *v.encode(tgt_words)[0], v.eos_id]

  @staticmethod
  def length(src: Sequence[int], tgt: Sequence[int] | None) -> int:
    """The bucket length of a pair of ids: max(S, T)."""
    return len(src) if tgt is None else max(len(src), len(tgt) - 1)

  @staticmethod
  def example(src: Sequence[int], tgt: Sequence[int] | None) -> tuple[int, dict]:
    """Ids (`ids`) -> (bucket length, example)."""
    example = dict(src=np.asarray(src, np.int32), src_len=len(src))
    if tgt is not None:
      tgt = np.asarray(tgt, np.int32)
      example.update(tgt_in=tgt[:-1], tgt_out=tgt[1:], tgt_len=len(tgt) - 1)
    return PairEncoder.length(src, tgt), example

  def __call__(self, src_words, tgt_words) -> tuple[int, dict]:
    return self.example(*self.ids(src_words, tgt_words))


def make_dataset(
  config,
  pairs,
  src_vocab: Vocab,
  tgt_vocab: Vocab,
  batch_size: int,
  *,
  drop_long: bool,
  split: str = "",
  unit: str = "number",
) -> BucketedDataset:
  """The pairs' batches (a pair's target None: sources only, src/src_len, for translate
  mode). drop_long (training): pairs longer than the largest bucket edge are dropped;
  else (evaluation) every pair is kept, the longer ones in one more edge up to the model's
  limit (`pipeline.fit_edges`; past it: a DataError naming the first by its `unit`)."""
  edges = tuple(config.data.bucket_edges)
  examples, lengths, dropped, kind = [], [], 0, "pairs"
  encode = PairEncoder.of(config, src_vocab, tgt_vocab)
  for src_words, tgt_words in pairs:
    length, example = encode(src_words, tgt_words)
    kind = "sentences" if tgt_words is None else kind
    if drop_long and length > edges[-1]:
      dropped += 1
      continue
    examples.append(example)
    lengths.append(length)
  if dropped:
    log.warning("dropped %d training pairs longer than the largest bucket (%d)", dropped, edges[-1])
  if not drop_long:
    what = f"{split} {kind}".lstrip()
    edges = fit_edges(edges, lengths, limit=length_limit(config), what=what, unit=unit)
  return BucketedDataset(
    examples,
    np.asarray(lengths),
    edges,
    batch_size,
    pad_values=dict(src=src_vocab.pad_id, tgt_in=tgt_vocab.pad_id, tgt_out=tgt_vocab.pad_id),
  )


def packed_lengths(config) -> tuple[int, int]:
  """data.packed_length as (source, target) tokens per packed row; 0: the largest bucket
  edge (the longest training pair kept)."""
  edge = max(config.data.bucket_edges)
  return tuple(n or edge for n in config.data.packed_length)


def check_packable(config) -> None:
  if config.model.name != "transformer":
    raise ConfigError(
      f"data.packing=True needs model.name=transformer (segment masks), not "
      f"{config.model.name!r}: set data.packing=False."
    )


def packed_rows(config, src_length: int, tgt_length: int) -> int:
  """Rows of a packed batch: train.batch_size, or train.max_tokens // the longer packed
  length (a multiple of the devices x train.grad_accum_steps)."""
  t = config.train
  if not t.max_tokens:
    return t.batch_size
  multiple = jax.device_count() * t.grad_accum_steps
  return token_rows(t.max_tokens, max(src_length, tgt_length), multiple, "packed length")


def training_batches(config, data: BucketedDataset) -> BucketedDataset | PackedDataset:
  """The training split's batches as configured: `data` itself (train.batch_size rows),
  with train.max_tokens each bucket's own row count (`pipeline.token_batch_sizes`), or with
  data.packing=True its pairs packed into [rows, packed length] batches (rows:
  train.batch_size, or train.max_tokens // the longer packed length). Row counts are
  multiples of the devices x train.grad_accum_steps."""
  t = config.train
  multiple = jax.device_count() * t.grad_accum_steps
  if config.data.packing:
    check_packable(config)
    src_length, tgt_length = packed_lengths(config)
    rows = packed_rows(config, src_length, tgt_length)
    return PackedDataset(
      data.examples, rows, src_length, tgt_length, data.pad_values["tgt_in"], config.seed
    )
  if t.max_tokens:
    sizes = token_batch_sizes(t.max_tokens, data.edges, multiple)
    return dataclasses.replace(data, batch_size=max(sizes), batch_sizes=sizes)
  return data


def padded_targets(batch) -> int:
  """A batch's padded target positions (`Task.padded`: the real share's denominator)."""
  return batch["tgt_out"].size


def init_args(config) -> tuple:
  """Dummy (src, src_len, tgt_in) that `model.init` traces once."""
  return init_inputs(config, targets=True)


def head_rows(train_config) -> int:
  """Rows per chunk of the fused head and loss (0: the plain logits): train.fused_head_rows,
  but 0 under train.matmul=onednn, whose bf16 head is a Dense call the fused loss bypasses."""
  rows = train_config.get("fused_head_rows", 0)
  return rows if train_config.get("matmul", "xla") == "xla" else 0


def make_loss_fn(model, label_smoothing: float, reduction: str = "token", head_rows: int = 0):
  """Token cross entropy over real target positions (`base.sequence_loss`); label
  smoothing only in training. Models with `uses_step` (scheduled sampling) also get the
  training step. head_rows > 0, for a model with `head_params` (the transformer): the
  output head and the loss fused in chunks of about that many positions
  (`base.head_sequence_loss`), the same values without the [B,T,V] logits."""
  if reduction not in ("token", "sequence"):
    raise ConfigError(f"unknown train.loss_reduction {reduction!r}; use token or sequence.")
  fused = head_rows > 0 and hasattr(model, "head_params")

  def loss_fn(params, batch, rng, train: bool, step=0):
    kw = {"step": step} if train and getattr(model, "uses_step", False) else {}
    packed = "tgt_segment" in batch  # data.packing (data/packing.py): no lengths
    if packed:
      kw.update(
        segments=(batch["src_segment"], batch["tgt_segment"]),
        positions=(batch["src_position"], batch["tgt_position"]),
      )
    if fused:
      kw["features_only"] = True
    out, _ = model.apply(
      params,
      batch["src"],
      None if packed else batch["src_len"],
      batch["tgt_in"],
      train,
      rngs={"dropout": rng},
      **kw,
    )
    targets, lengths = batch["tgt_out"], None if packed else batch["tgt_len"]
    common = dict(
      label_smoothing=label_smoothing if train else 0.0,
      reduction=reduction,
      segments=batch["tgt_segment"] if packed else None,
    )
    if fused:
      head = model.head_params(params)
      return head_sequence_loss(out, head, targets, lengths, chunk_rows=head_rows, **common)
    return sequence_loss(out, targets, lengths, **common)

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
  model,
  params,
  data: BucketedDataset,
  tgt_vocab: Vocab,
  config,
  *,
  beam_size: int,
  nbest: int = 1,
  progress: bool = False,
) -> tuple[list[list[str]], dict]:
  """Best hypothesis per example (dataset order), plus timing, the first example's greedy
  attention ({"weights": [L,S], "tokens": its hypothesis' tokens}) and "nbest": per
  example its `nbest` best (words, score), best first (score: beam search's
  length-penalised score, greedy's summed log-probability). progress: a tqdm bar of the
  batches on stderr."""
  bar = tqdm(
    total=data.num_batches(), desc="translating", unit="batch", disable=not progress, leave=False
  )

  def rows(batch):
    out = jax.device_get(
      search(model, params, batch["src"], batch["src_len"], config, tgt_vocab, beam_size=beam_size)
    )
    score = out.get("score", out["logprob"])
    k = min(nbest, out["tokens"].shape[1])
    bar.update()
    return [
      (
        [(tgt_vocab.decode(out["tokens"][r, j]), float(score[r, j])) for j in range(k)],
        (out["attention"][r], out["tokens"][r, 0]) if "attention" in out else None,
      )
      for r in range(len(batch["index"]))
    ]

  t0 = time.time()
  results = map_dataset(data, rows)
  seconds = time.time() - t0
  bar.close()
  hyps = [best[0][0] for best, _ in results]
  first = results[0][1] if results else None
  attention = (
    {} if first is None else {"weights": first[0], "tokens": tgt_vocab.tokens_of(first[1])}
  )
  return hyps, {
    "seconds": seconds,
    "sentences_per_second": len(hyps) / seconds,
    "attention": attention,
    "nbest": [best for best, _ in results],
  }


def search_name(beam_size: int) -> str:
  """greedy | beam<K>: the test report's name of a search (its metric keys, hyp files)."""
  return "greedy" if beam_size == 1 else f"beam{beam_size}"


def write_lines(path: Path, lines: Iterable[str]) -> None:
  """One line per item, UTF-8, written atomically (by the main process only)."""
  if train.is_main_process():
    rundir.write_text(path, "".join(f"{line}\n" for line in lines))


def decode_report(
  config, workdir: Path, model, params, tgt_vocab: Vocab, data: BucketedDataset, pairs, name: str
) -> tuple[dict, tuple[list[list[str]], dict]]:
  """Decodes `data` (the batches of `pairs`, the test set `name`) greedily and with each
  of decode.eval_beam_sizes. Per search (greedy, beam4, ...) `<search>_bleu`, `_chrf`,
  `_ter`, `_exact_match`, `_sentences_per_second`, and once `bleu_signature`,
  `chrf_signature`, `ter_signature`; logs them and decode.num_samples greedy samples.
  Writes src_<name>.txt, ref_<name>.txt and hyp_<name>_<search>.txt into workdir (one
  sentence a line, in the order of `pairs`). Returns the metrics and greedy's
  `decode_dataset` result."""
  srcs, refs = [p[0] for p in pairs], [p[1] for p in pairs]
  write_lines(workdir / f"src_{name}.txt", (join_tokens(config, s) for s in srcs))
  write_lines(workdir / f"ref_{name}.txt", (join_tokens(config, r) for r in refs))
  out, signatures, greedy = {}, {}, None
  for beam in sorted({1, *config.decode.eval_beam_sizes}):
    hyps, info = decode_dataset(model, params, data, tgt_vocab, config, beam_size=beam)
    label = search_name(beam)
    scores, signatures = metrics.corpus_scores(hyps, refs, bleu_tokenize(config))
    out.update({f"{label}_{k}": v for k, v in scores.items()})
    out[f"{label}_exact_match"] = metrics.exact_match(hyps, refs)
    out[f"{label}_sentences_per_second"] = info["sentences_per_second"]
    write_lines(workdir / f"hyp_{name}_{label}.txt", (join_tokens(config, h) for h in hyps))
    log.info(
      "%s %s: BLEU %.2f | chrF %.2f | TER %.2f | exact match %.1f%% | %.1f sentences/s",
      name,
      label,
      scores["bleu"],
      scores["chrf"],
      scores["ter"],
      out[f"{label}_exact_match"],
      info["sentences_per_second"],
    )
    if beam == 1:
      greedy = hyps, info
      for i in range(min(config.decode.num_samples, len(hyps))):
        log.info(
          "  src: %s\n  ref: %s\n  hyp: %s",
          join_tokens(config, srcs[i]),
          join_tokens(config, refs[i]),
          join_tokens(config, hyps[i]),
        )
  out.update({f"{k}_signature": v for k, v in signatures.items()})
  log.info(
    "%s signatures: BLEU %s | chrF %s | TER %s",
    name,
    signatures["bleu"],
    signatures["chrf"],
    signatures["ter"],
  )
  return out, greedy


STORE = "train_tokens"  # the streamed training set, tokenised once (data/token_store.py)


@dataclasses.dataclass(frozen=True)
class RecordIds:
  """(record index, serialized record) -> (bucket length, source ids, target ids
  <sos> y <eos>): what the token store keeps of a record (grain workers run it)."""

  text: Callable[[bytes], tuple[list[str], list[str]]]
  pair: PairEncoder

  def __call__(self, index: int, raw: bytes) -> tuple[int, list[int], list[int]]:
    src, tgt = self.pair.ids(*self.text(raw))
    return PairEncoder.length(src, tgt), src, tgt


@dataclasses.dataclass(frozen=True)
class StoredEncoder:
  """(record index, (source ids, target ids) of the token store) -> (length, example
  with its "index"): the example `PairEncoder` makes of the record's text."""

  def __call__(self, index: int, ids: tuple[np.ndarray, np.ndarray]) -> tuple[int, dict]:
    length, example = PairEncoder.example(*ids)
    return length, {**example, "index": index}


def store_key(files: Sequence[str], record: RecordIds) -> dict[str, Any]:
  """What a stored tokenisation depends on: the record files, the text's reading and both
  vocabularies (their tokens, subword models, the source's affixes)."""
  h = hashlib.sha256(json.dumps(dataclasses.asdict(record.text), sort_keys=True).encode())
  for vocab in (record.pair.src_vocab, record.pair.tgt_vocab):
    h.update(json.dumps(vocab.to_json()).encode())
    h.update(vocab.model or b"")
  h.update(json.dumps([record.pair.head, record.pair.tail]).encode())
  return {"files": list(files), "encoding": h.hexdigest()}


def token_store(config, workdir: Path, data: StreamedPairs, record: RecordIds) -> TokenStore:
  """The training set's token store (built once per run directory: one streamed pass that
  reads, parses and encodes every record in grain's workers)."""
  suffix = "" if train.is_main_process() else f".p{jax.process_index()}"
  path, key = workdir / f"{STORE}{suffix}", store_key(data.stream.files["train"], record)
  store = token_store_lib.load(path, key)
  if store is None:
    t0 = time.time()
    records = read(Blocks(data.train, record), workers=config.data.workers)
    dtype = token_store_lib.dtype_for(len(record.pair.src_vocab), len(record.pair.tgt_vocab))
    store = token_store_lib.build(path, records, key, dtype)
    log.info("tokenised %d training pairs into %s.* in %.1f s", len(store), path, time.time() - t0)
  return store


def streamed_dataset(
  config, workdir: Path, data: StreamedPairs, src_vocab: Vocab, tgt_vocab: Vocab
) -> StreamedDataset | PackedStream:
  """The training batches streamed by grain (data.pipeline=grain) from the run's token
  store: bucketed, or packed with data.packing."""
  record = RecordIds(data.stream.text, PairEncoder.of(config, src_vocab, tgt_vocab))
  store = token_store(config, workdir, data, record)
  if config.data.packing:
    return packed_stream(config, workdir, store, tgt_vocab.pad_id)
  ds = StreamedDataset(
    store,
    StoredEncoder(),
    tuple(config.data.bucket_edges),
    config.train.batch_size,
    store.counts,
    pad_values=dict(src=src_vocab.pad_id, tgt_in=tgt_vocab.pad_id, tgt_out=tgt_vocab.pad_id),
    workers=config.data.workers,
  )
  if ds.dropped():
    log.warning(
      "dropped %d training pairs longer than the largest bucket (%d)", ds.dropped(), ds.edges[-1]
    )
  return ds


PACKING = "train_packing"  # the streamed training set's planned rows: .ids, .offsets, .json


def packed_stream(config, workdir: Path, store: TokenStore, pad_id: int) -> PackedStream:
  """data.packing=True on the grain path: the rows planned once (one streamed pass, files
  in the run directory; each process of a multi-host run plans its own copy), then
  streamed (data/streaming.py: PackedStream). Rows as `training_batches`'."""
  check_packable(config)
  src_length, tgt_length = packed_lengths(config)
  rows = packed_rows(config, src_length, tgt_length)
  suffix = "" if train.is_main_process() else f".p{jax.process_index()}"
  t0 = time.time()
  plan = plan_packing(
    store,
    StoredEncoder(),
    workdir / f"{PACKING}{suffix}",
    seed=config.seed,
    rows=rows,
    src_length=src_length,
    tgt_length=tgt_length,
    workers=config.data.workers,
    key=store.key,
  )
  log.info(
    "packing: %d training pairs in %d rows of (%d, %d) tokens, %d batches of %d rows (%.1f s)",
    len(store) - plan.dropped,
    len(plan),
    src_length,
    tgt_length,
    -(-len(plan) // rows),
    rows,
    time.time() - t0,
  )
  if plan.dropped:
    log.warning("dropped %d training pairs longer than the packed length", plan.dropped)
  return PackedStream(store, StoredEncoder(), plan, rows, pad_id, workers=config.data.workers)


def build_task(config, workdir: Path) -> Task:
  grain = config.data.pipeline == "grain"
  data = (
    StreamedPairs(stream_parallel(config.data), workers=config.data.workers)
    if grain
    else (load_parallel(config.data))
  )
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
    "train": (
      streamed_dataset(config, workdir, data, src_vocab, tgt_vocab)
      if grain
      else training_batches(
        config, make_dataset(config, data.train, src_vocab, tgt_vocab, bs, drop_long=True)
      )
    ),
    "validation": evaluated("validation", data.validation),
    "test": evaluated("test", data.test),
  }

  def report(params, split: str) -> dict:
    pairs = data.split(split)
    out, (hyps, info) = decode_report(
      config, workdir, model, params, tgt_vocab, datasets[split], pairs, split
    )
    if info["attention"]:
      path = workdir / f"attention_{split}0.png"
      weights = info["attention"]["weights"]
      tokens = info["attention"]["tokens"]
      plot_attention(config, src_vocab, tgt_vocab, weights, pairs[0][0], tokens, path)
      out["attention_png"] = path.name  # relative to the run directory
    if split == "test" and config.decode.attention_sentences:
      out["attention_pngs"] = attention_maps(config, workdir, model, params, src_vocab, tgt_vocab)
    return out

  def valid_metrics(params) -> dict[str, float]:
    """Greedy BLEU of the validation set (train.select_by=bleu)."""
    hyps, _ = decode_dataset(model, params, datasets["validation"], tgt_vocab, config, beam_size=1)
    return {"bleu": metrics.bleu(hyps, [p[1] for p in data.validation], bleu_tokenize(config))}

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
    loss_fn=make_loss_fn(
      model, config.train.label_smoothing, config.train.loss_reduction, head_rows(config.train)
    ),
    summarize=summarize,
    report=report,
    epoch_line=loss_ppl_line,
    padded=padded_targets,
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


def line_numbers(indices: Sequence[int], shown: int = 10) -> str:
  """0-based indices -> `line 3` | `lines 3, 7, 9` (1-based), `... and 12 more` past `shown`."""
  text = ", ".join(str(i + 1) for i in indices[:shown])
  more = f" and {len(indices) - shown} more" if len(indices) > shown else ""
  return f"line{'s' if len(indices) > 1 else ''} {text}{more}"


def check_vocab(vocab: Vocab, sentences: Sequence[Sequence[str]], where: str) -> None:
  """One warning for the out-of-vocabulary words of `sentences` (the lines of the file
  `where`), which become <unk>; a vocabulary without <unk>: a DataError naming the first
  line with such a word."""
  oov, lines = collections.Counter(), []
  for i, words in enumerate(sentences):
    try:
      _, unknown = vocab.encode(words)
    except DataError as e:
      raise DataError(f"{where} line {i + 1}: {e} Remove or replace such words.") from None
    if unknown:
      oov.update(unknown)
      lines.append(i)
  if oov:
    log.warning(
      "%s: %d out-of-vocabulary word(s) (%d distinct) on %d line(s) mapped to %s: %s",
      where,
      sum(oov.values()),
      len(oov),
      len(lines),
      vocab.unk,
      " ".join(w for w, _ in oov.most_common(10)) + (" ..." if len(oov) > 10 else ""),
    )


def truncate_sources(
  config, src_vocab: Vocab, sentences: list[list[str]], where: str
) -> list[list[str]]:
  """Sentences cut to the model's length limit (`length_limit`, the source's affixes
  included; subwords: the longest word prefix whose pieces fit), with one warning naming
  their lines; unchanged for a model without a limit."""
  limit = length_limit(config)
  if limit is None:
    return sentences
  head, tail = source_affixes(config, src_vocab)
  room = limit[0] - len(head) - len(tail)
  long = [i for i, words in enumerate(sentences) if len(src_vocab.split(words)) > room]
  if long:
    log.warning(
      "%s: %d line(s) longer than the model's limit of %d tokens (%s), truncated to it (%s)",
      where,
      len(long),
      limit[0],
      limit[1],
      line_numbers(long),
    )
  cut = set(long)
  return [_truncated(src_vocab, w, room) if i in cut else w for i, w in enumerate(sentences)]


def _truncated(vocab: Vocab, words: list[str], room: int) -> list[str]:
  """The longest prefix of `words` (at most `room` of them) whose tokens fit in `room`."""
  words = list(words[:room])
  while len(vocab.split(words)) > room:
    words.pop()
  return words


def restored(config, workdir: Path) -> tuple[Vocab, Vocab, Any, Any]:
  """The run's vocabularies, its translator and the params of `decode.checkpoint` (best)."""
  src_vocab, tgt_vocab = vocabs_for(config, workdir, None)
  model = make_model(config, src_vocab, tgt_vocab)
  params = train.restore_params(
    model, init_args(config), config, workdir, train.decode_checkpoint(config)
  )
  return src_vocab, tgt_vocab, model, params


def evaluate_files(config, workdir: Path, src_path: Path, ref_path: Path, name: str) -> dict:
  """--mode=evaluate --test_src --test_ref: the best checkpoint on a parallel test set.

  Lines are normalised as translate mode does, encoded with the run's vocabularies (OOV:
  <unk>, one warning per side) and batched as the test split is. Returns, and appends to
  metrics.jsonl as `{"split": name, ...}`, the loss metrics and the test report's
  (`decode_report`: BLEU, chrF, TER per search, signatures), and writes its
  src_/ref_/hyp_<name>_<search>.txt. Files that differ in length, a missing or empty file,
  a pair past the model's length limit, a source word unknown to a vocabulary without
  <unk>: a DataError naming it. References that a target vocabulary without <unk> cannot
  encode: no loss (a warning), the decoding metrics only.
  """
  src_lines, ref_lines = read_lines(src_path, "--test_src"), read_lines(ref_path, "--test_ref")
  if len(src_lines) != len(ref_lines):
    raise DataError(
      f"--test_src={src_path} has {len(src_lines)} lines but --test_ref={ref_path} has "
      f"{len(ref_lines)}: pass the two sides of one test set, line for line."
    )
  pairs = [(normalise(config, s), normalise(config, r)) for s, r in zip(src_lines, ref_lines)]
  empty = [i for i, (s, r) in enumerate(pairs) if not s or not r]
  if empty:
    log.warning(
      "%s / %s: %d line pair(s) with an empty side, kept and scored (%s)",
      src_path,
      ref_path,
      len(empty),
      line_numbers(empty),
    )
  src_vocab, tgt_vocab, model, params = restored(config, workdir)
  check_vocab(src_vocab, [p[0] for p in pairs], str(src_path))
  known = set(tgt_vocab.tokens)
  with_loss = tgt_vocab.unk is not None or all(w in known for _, r in pairs for w in r)
  if with_loss:
    check_vocab(tgt_vocab, [p[1] for p in pairs], f"{ref_path} (for the loss)")
  else:  # the references cannot be encoded: score the decoding only
    log.warning(
      "%s: words outside the target vocabulary, which has no <unk> (data.specials=%s): "
      "no loss for this test set, only the decoding metrics",
      ref_path,
      config.data.specials,
    )
  data = make_dataset(
    config,
    pairs if with_loss else [(s, None) for s, _ in pairs],
    src_vocab,
    tgt_vocab,
    config.train.eval_batch_size,
    drop_long=False,
    split=f"{src_path} / {ref_path}",
    unit="line",
  )
  result = {}
  if with_loss:
    loss_fn = make_loss_fn(model, 0.0, config.train.loss_reduction, head_rows(config.train))
    result = train.loss_metrics(loss_fn, summarize, params, data, name)
  result.update(decode_report(config, workdir, model, params, tgt_vocab, data, pairs, name)[0])
  result.update(test_src=str(src_path.absolute()), test_ref=str(ref_path.absolute()))
  train.append_metrics(workdir, {"split": name, **result})
  return result


def translate_file(
  config,
  workdir: Path,
  input_path: Path,
  output: Path | None = None,
  nbest_output: Path | None = None,
) -> int:
  """--mode=translate --input=FILE: every line translated in bucketed batches by the
  decode.beam_size search; returns #translated.

  output: the best translation of each input line, one a line, in input order.
  nbest_output: the decode.nbest best per input line in the Moses format
  `id ||| hypothesis ||| score` (id: the 0-based input line, score: `decode_dataset`'s).
  An empty line gives an empty output line (and no n-best entry), a line past the model's
  length limit is truncated to it (a warning for each kind); files are written atomically.
  """
  lines = read_lines(input_path, "--input")
  where = str(input_path)
  sentences = [normalise(config, line) for line in lines]
  kept = [i for i, words in enumerate(sentences) if words]
  if not kept:
    raise DataError(f"--input={input_path} has only empty lines: nothing to translate.")
  if len(kept) < len(sentences):
    empty = [i for i, words in enumerate(sentences) if not words]
    log.warning(
      "%s: %d empty line(s), translated as empty lines (%s)", where, len(empty), line_numbers(empty)
    )
  src_vocab, tgt_vocab, model, params = restored(config, workdir)
  check_vocab(src_vocab, sentences, where)
  sentences = truncate_sources(config, src_vocab, sentences, where)
  data = make_dataset(
    config,
    [(sentences[i], None) for i in kept],
    src_vocab,
    tgt_vocab,
    config.train.eval_batch_size,
    drop_long=False,
  )
  d = config.decode
  _, info = decode_dataset(
    model,
    params,
    data,
    tgt_vocab,
    config,
    beam_size=d.beam_size,
    nbest=min(d.nbest, d.beam_size),
    progress=True,
  )
  nbest = dict(zip(kept, info["nbest"]))
  if output is not None:
    best = (join_tokens(config, nbest[i][0][0]) if i in nbest else "" for i in range(len(lines)))
    write_lines(output, best)
  if nbest_output is not None:
    write_lines(
      nbest_output,
      (
        f"{i} ||| {join_tokens(config, words)} ||| {score:.6g}"
        for i in kept
        for words, score in nbest[i]
      ),
    )
  log.info(
    "translated %d of %d lines (%s, %.1f sentences/s) -> %s",
    len(kept),
    len(lines),
    search_name(d.beam_size),
    info["sentences_per_second"],
    ", ".join(str(p) for p in (output, nbest_output) if p is not None),
  )
  return len(kept)


def serve(
  mode: str,
  config,
  workdir: Path,
  inputs: list[str],
  *,
  input_path: Path | None = None,
  output: Path | None = None,
  nbest_output: Path | None = None,
) -> None:
  """--mode=translate: with --input=FILE, the file in batches (`translate_file`) to
  --output and/or --nbest_output; else n-best lists printed for the sentences in `inputs`,
  else stdin's lines, one sentence at a time (`translate`)."""
  if input_path is None:
    if output is not None or nbest_output is not None:
      raise ConfigError(
        "--output and --nbest_output need --input=FILE (the sentences, one a line)."
      )
  else:
    if inputs:
      raise ConfigError(
        "give the sentences as arguments (or on stdin) or as --input=FILE, not both."
      )
    if output is None and nbest_output is None:
      raise ConfigError(
        "--input needs --output=FILE (the best translations) and/or --nbest_output=FILE."
      )
    for flag, path in (("--output", output), ("--nbest_output", nbest_output)):
      if path is not None and (path.is_dir() or not path.parent.is_dir()):
        raise DataError(f"{flag}={path}: pass a file path in an existing directory.")
    translate_file(config, workdir, input_path, output, nbest_output)
    return
  src_vocab, tgt_vocab, model, params = restored(config, workdir)
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
