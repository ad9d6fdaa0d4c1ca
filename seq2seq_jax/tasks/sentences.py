"""Sentences in and out of a translation model: tokenise by `data.tokenizer`, add the
source's affixes, encode and pad one sentence to its bucket, and draw attention heat maps
for the config's `decode.attention_sentences`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import decoding, plots
from seq2seq_jax.data.sources.tatoeba import tokenize
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.errors import DataError

log = logging.getLogger("seq2seq_jax")


def normalise(config, sentence: str) -> list[str]:
  """Tokens by `data.tokenizer`: "" whitespace (lowercased when data.lowercase),
  "tutorial" the seq2seq tutorial's normalizeString, "chars" one token per character;
  "sentencepiece" the whitespace words, which its vocabulary splits into subwords."""
  tokenizer = config.data.tokenizer
  if tokenizer == "chars":
    return list(sentence.strip())
  if tokenizer == "tutorial":
    return tokenize(sentence)
  return (sentence.lower() if config.data.lowercase else sentence).split()


def join_tokens(config, tokens: Sequence[str]) -> str:
  return ("" if config.data.tokenizer == "chars" else " ").join(tokens)


def subword(config) -> bool:
  """data.tokenizer=sentencepiece: subword vocabularies, words out (plain text)."""
  return config.data.tokenizer == "sentencepiece"


def bleu_tokenize(config) -> str:
  """sacrebleu's tokenisation of the run's BLEU: 13a on the plain text of sentencepiece
  runs, none (the data's own tokens) else."""
  return "13a" if subword(config) else "none"


def read_lines(path: Path, flag: str) -> list[str]:
  """The lines of the UTF-8 text file `path` (split at "\\n" only, a final newline ending
  the last line, not starting another); a missing, undecodable or empty file is a
  DataError naming `flag` (the option that gave it, e.g. --input) and the fix."""
  try:
    text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not text
  except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
    raise DataError(
      f"{flag}={path}: no such file; pass a UTF-8 text file, one sentence a line."
    ) from None
  except OSError as e:
    raise DataError(
      f"{flag}={path} cannot be read ({e.strerror}): check its permissions."
    ) from None
  except UnicodeDecodeError as e:
    raise DataError(
      f"{flag}={path} is not UTF-8 text (byte {e.start}): convert it, e.g. with iconv -t utf-8."
    ) from None
  if not text:
    raise DataError(f"{flag}={path} is empty: pass a file with one sentence a line.")
  lines = text.split("\n")
  return lines[:-1] if lines[-1] == "" else lines


def source_affixes(config, vocab: Vocab) -> tuple[list[str], list[str]]:
  """Tokens around a source sentence: <sos> w <eos> (data.src_bos_eos), w <eos>
  (data.src_eos: the seq2seq tutorial), or none."""
  if config.data.src_bos_eos:
    return [vocab.bos], [vocab.eos]
  return [], ([vocab.eos] if config.data.src_eos else [])


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


def plot_attention(
  config, src_vocab: Vocab, tgt_vocab: Vocab, weights, words: list[str], hyp: list[str], path
) -> None:
  """Heat map of greedy attention weights [L,S]: the tokens of source `words` (with their
  affixes; subwords: its pieces) against the hypothesis tokens `hyp` and its <eos>."""
  head, tail = source_affixes(config, src_vocab)
  src_tokens = head + src_vocab.split(words) + tail
  out_tokens = list(hyp) + [tgt_vocab.eos]
  plots.attention_map(
    weights[: len(out_tokens), : len(src_tokens)],
    src_tokens,
    out_tokens,
    path,
    title=" ".join(words),
  )


def attention_maps(
  config, workdir: Path, model, params, src_vocab: Vocab, tgt_vocab: Vocab
) -> list[str]:
  """Greedy-translates each of `decode.attention_sentences`; writes attention_<i>.png;
  returns their names (relative to the run directory)."""
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
    hyp = tgt_vocab.tokens_of(out["tokens"][0, :n])
    path = workdir / f"attention_{i}.png"
    plot_attention(config, src_vocab, tgt_vocab, out["attention"][0], words, hyp, path)
    shown = " ".join(src_vocab.split(words)), " ".join(hyp + [tgt_vocab.eos])
    log.info("attention map %s: %s -> %s", path, *shown)
    paths.append(path.name)  # relative to the run directory, which may move
  return paths
