"""Sentencepiece subword vocabularies (`data.tokenizer=sentencepiece`): trained once on the
training text, cached by its fingerprint, saved into the run directory with the vocabulary.

The model's ids are the project's: it is trained with torchtext's specials at their
places (<unk> 0, <pad> 1, <sos> 2, <eos> 3), so `Vocab(tokens=its pieces)` (data/vocab.py)
has the same ids as sentencepiece and the rest of the code reads it as any vocabulary.
Training reads the sentences from an iterator (at most `max_sentences` of them, sampled
by sentencepiece's `input_sentence_size`, so its memory stays bounded on millions of
lines) and writes the model into memory.

Cache layout: `<cache_dir>/sentencepiece/<key>.model`, key = sha256 of the settings, the
sentencepiece version and every training sentence (so changed sources, normalisation or
settings train a new model and never serve a stale one). The file is written beside it
under a temporary name and renamed, so a killed training leaves nothing a later run trusts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from seq2seq_jax.data.builders.base import default_cache_dir
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.errors import ConfigError

log = logging.getLogger("seq2seq_jax")

# The specials' pieces at ids 0..3: data/vocab.py TORCHTEXT_SPECIALS, in that order.
SPECIAL_IDS = dict(unk=0, pad=1, bos=2, eos=3)
SPECIAL_PIECES = dict(unk="<unk>", pad="<pad>", bos="<sos>", eos="<eos>")
SEED = 0  # sentencepiece's sampling seed: the same text, the same model


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a model is trained with (config.data's sentencepiece keys)."""

  vocab_size: int  # pieces, the specials included
  model_type: str = "unigram"  # unigram | bpe
  max_sentences: int = 1_000_000  # sentences sampled at most (input_sentence_size)
  character_coverage: float = 1.0  # all characters (small alphabets; 0.9995 for CJK)

  @classmethod
  def of(cls, data) -> Settings:
    return cls(data.vocab_size, data.spm_model, data.spm_max_sentences)


def fingerprint(settings: Settings, sentences: Iterable[str]) -> tuple[str, int]:
  """sha256 of the settings, the sentencepiece version and the sentences, in order; and
  how many sentences there were."""
  h = hashlib.sha256(json.dumps([dataclasses.asdict(settings), spm.__version__]).encode())
  n = 0
  for s in sentences:
    h.update(s.encode("utf-8"))
    h.update(b"\n")
    n += 1
  return h.hexdigest(), n


def train(settings: Settings, sentences: Iterator[str]) -> bytes:
  """The serialized model trained on `sentences` (ConfigError when the text is too small
  for `settings.vocab_size`)."""
  model = io.BytesIO()
  spm.set_random_generator_seed(SEED)
  try:
    spm.SentencePieceTrainer.train(
      sentence_iterator=sentences,
      model_writer=model,
      vocab_size=settings.vocab_size,
      model_type=settings.model_type,
      character_coverage=settings.character_coverage,
      input_sentence_size=settings.max_sentences,
      shuffle_input_sentence=True,
      **{f"{role}_id": i for role, i in SPECIAL_IDS.items()},
      **{f"{role}_piece": p for role, p in SPECIAL_PIECES.items()},
      minloglevel=2,  # errors only: progress is logged here
    )
  except RuntimeError as e:
    most = re.search(r"value <= (\d+)", str(e))
    if most:
      raise ConfigError(
        f"data.vocab_size={settings.vocab_size} is more than sentencepiece can make of this "
        f"training text (at most {most.group(1)}): lower data.vocab_size."
      ) from None
    raise
  return model.getvalue()


def processor(model: bytes) -> spm.SentencePieceProcessor:
  """The model's processor (RuntimeError for bytes that are not a model)."""
  return spm.SentencePieceProcessor(model_proto=model)


def cached_model(
  settings: Settings, sentences: Callable[[], Iterator[str]], cache_dir: str | Path, what: str
) -> bytes:
  """The model of `sentences()` (called for each pass: hashing, training) from the cache,
  else trained and cached (atomically). `what` names it in the log lines."""
  key, count = fingerprint(settings, sentences())
  path = Path(cache_dir) / "sentencepiece" / f"{key[:32]}.model"
  if path.exists():
    model = path.read_bytes()
    try:
      processor(model)
      log.info("sentencepiece %s: cached %s", what, path)
      return model
    except RuntimeError:
      log.warning("sentencepiece %s: cached %s is damaged; training it again", what, path)
  log.info(
    "sentencepiece %s: training a %d-piece %s model on %d sentences (%d sampled at most) ...",
    what,
    settings.vocab_size,
    settings.model_type,
    count,
    settings.max_sentences,
  )
  t0 = time.time()
  model = train(settings, sentences())
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  tmp.write_bytes(model)
  os.replace(tmp, path)
  log.info("sentencepiece %s: trained in %.1fs -> %s", what, time.time() - t0, path)
  return model


def vocabs(data, pairs: Iterable[tuple[list[str], list[str]]]) -> tuple[Vocab, Vocab]:
  """Source and target subword vocabularies of `pairs` (re-iterable; word lists, as the sources
  normalise them; each sentence is its words joined by spaces): one model over both sides
  with data.shared_vocab, else one per side; each from the cache or trained."""
  settings = Settings.of(data)
  cache_dir = data.get("cache_dir") or default_cache_dir()  # datasets without files: the default
  text = lambda side: (" ".join(p[side]) for p in pairs)
  make = lambda sides, what: cached_model(
    settings, lambda: (s for side in sides for s in text(side)), cache_dir, what
  )
  if data.shared_vocab:
    src = tgt = make((0, 1), "shared source+target")
  else:
    src, tgt = make((0,), "source"), make((1,), "target")
  as_vocab = lambda model: Vocab(tokens=pieces(model), model=model, **SPECIAL_PIECES)
  return as_vocab(src), as_vocab(tgt)


def pieces(model: bytes) -> tuple[str, ...]:
  """The model's pieces in id order."""
  p = processor(model)
  return tuple(p.id_to_piece(i) for i in range(p.get_piece_size()))
