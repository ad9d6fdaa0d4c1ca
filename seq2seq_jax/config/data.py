"""The `data` block of a config, with its defaults documented once.

A config file names its dataset and passes only what its recipe changes:

  c.data = data_config("eng_fra", dir="../shared/data/eng-fra", specials="tutorial")

The block holds `name`, the keys of a dataset read from files (FILES: the ones with a
tfds builder; the embedded numbers and toys have none), those its task kind reads
(KIND) and the dataset's own (its registry entry's `keys`, e.g. sources/numbers.py
KEYS), so every key the code reads exists and a misspelt override is refused here.
Datasets named in `also` (same kind) add their own keys too, so that one block serves
`--config.data.name=<any of them>`. The defaults of keys that some configs used to
lack equal the fallbacks the task code reads them with (tasks/translation.py).
"""

from __future__ import annotations

from typing import Any

import ml_collections

from seq2seq_jax.config.defaults import block
from seq2seq_jax.data import registry
from seq2seq_jax.errors import ConfigError

FILES: dict[str, Any] = dict(
  dir="",  # local folder of the raw files ("": none given)
  cache_dir="",  # tfds cache; default ~/.cache/seq2seq_jax or $SEQ2SEQ_JAX_CACHE
  download=False,  # fetch (and checksum) the upstream files when data.dir is missing
)

# How training batches are made (translation): keys that a run saved before them lacks are
# no change while they keep these defaults (rundir.DEFAULTS).
PIPELINE: dict[str, Any] = dict(
  pipeline="memory",  # memory: all pairs in memory (tutorial corpora) | grain: data/streaming.py
  packing=False,  # training batches: several pairs per row, segment ids (transformer only)
  packed_length=(0, 0),  # data.packing: (source, target) tokens per row; 0: largest edge
  workers=0,  # grain: prefetch processes that read and encode records (0: in the main process)
)

# Translation keys of sentencepiece subwords (data.tokenizer=sentencepiece; data/subwords.py).
SUBWORDS: dict[str, Any] = dict(
  vocab_size=8000,  # pieces per model, the 4 specials included
  spm_model="unigram",  # unigram | bpe
  shared_vocab=True,  # one model over both sides' training text (False: one per side)
  spm_max_sentences=1_000_000,  # training sentences sampled at most (input_sentence_size)
)

KIND: dict[str, dict[str, Any]] = {
  registry.TRANSLATION: dict(
    # "" whitespace | tutorial (normalizeString) | chars: how translate-mode input is split
    # (the sources split their own text); sentencepiece: subwords of the whitespace words,
    # trained on data.vocab_splits (data/subwords.py), output detokenised, BLEU 13a
    tokenizer="",
    lowercase=True,  # lowercase the text (multi30k; "" and sentencepiece tokenizer input)
    src_bos_eos=True,  # <sos> source <eos> (the torchtext tutorial)
    src_eos=False,  # source <eos> (the seq2seq tutorial), when not src_bos_eos
    specials="torchtext",  # special tokens (data/vocab.py SPECIALS)
    vocab_splits=("train",),  # splits the vocabularies count words over
    min_freq=1,  # words seen fewer times are <unk>
    max_vocab=0,  # most frequent words kept per side (0: no limit)
    bucket_edges=(12, 16, 20, 24, 32, 48),  # padded lengths of the batches
    **PIPELINE,
    **SUBWORDS,
  ),
  registry.CLASSIFICATION: dict(
    bucket_edges=(8, 12, 20),  # padded name lengths (names have 2..19 letters)
  ),
  registry.TAGGING: dict(
    bucket_edges=(5,),  # padded sequence lengths (the hello toy has 5)
  ),
}


def data_defaults(name: str, *also: str) -> dict[str, Any]:
  """The keys and defaults of the block for dataset `name` (and the datasets `also`)."""
  d = registry.DATASETS.get(name)
  if d is None:
    raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(registry.DATASETS))}.")
  keys = dict(name=name, **_own(d, before=KIND[d.kind]))
  for other in also:
    keys.update({k: v for k, v in _own(registry.entry(other, d.kind)).items() if k not in keys})
  return keys


def _own(d: registry.Dataset, before: dict[str, Any] | None = None) -> dict[str, Any]:
  """FILES (if `d` reads files), `before`, then `d`'s own keys."""
  return {**(FILES if d.builder else {}), **(before or {}), **d.keys}


def data_config(name: str, *also: str, **overrides: Any) -> ml_collections.ConfigDict:
  """The `data` block for dataset `name`: data_defaults(name, *also) with `overrides`."""
  return block(
    data_defaults(name, *also), overrides, "data", "seq2seq_jax/config/data.py", f" for {name!r}"
  )
