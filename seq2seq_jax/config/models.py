"""The `model` block: model name -> its hyper-parameter dataclass, the one source of defaults.

A config writes only what its recipe changes:

  c.model = model_config("rnn", cell="srn", attention="none", dropout=0.0)

and a task turns the block into a model with `make_model(config.model, task, **derived)`,
where `derived` are the sizes that come from the data (vocabularies, classes). An unknown
key, a missing key or a model of another task is a `ConfigError` naming it. The
translators take a frozen config dataclass (`TransformerConfig`, `RNNSeq2SeqConfig`); the
classifier and the tagger are small Flax modules whose fields are their hyper-parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import ml_collections

from seq2seq_jax.config.defaults import block
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models.classifier import CharClassifier, check_classifier
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from seq2seq_jax.models.rnn_tagger import RNNTagger
from seq2seq_jax.models.transformer import Transformer, TransformerConfig

_NOT_HYPER = ("parent", "name")  # a Flax module's own fields


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """One registered model: `params` (its hyper-parameters) -> `module` for `task`."""

  task: str
  params: type
  derived: tuple[str, ...]  # fields filled from the data, never from the config
  module: Callable[[Any], nn.Module] | None = None  # None: `params` is the module
  check: Callable[[Any], None] | None = None  # raises ConfigError on a bad combination


MODELS: dict[str, ModelSpec] = {
  "transformer": ModelSpec(
    "translation", TransformerConfig, ("src_vocab_size", "tgt_vocab_size"), Transformer
  ),
  "rnn": ModelSpec(
    "translation",
    RNNSeq2SeqConfig,
    ("src_vocab_size", "tgt_vocab_size"),
    RNNSeq2Seq,
    RNNSeq2SeqConfig.validate,
  ),
  "char_rnn": ModelSpec(
    "classification", CharClassifier, ("num_classes", "num_letters"), check=check_classifier
  ),
  "tagger": ModelSpec("tagging", RNNTagger, ("num_inputs", "num_classes")),
}


def _spec(name: str) -> ModelSpec:
  if name not in MODELS:
    raise ConfigError(f"unknown model.name {name!r}; known: {', '.join(sorted(MODELS))}.")
  return MODELS[name]


def defaults(name: str) -> dict[str, Any]:
  """The config keys of model `name` with their defaults (its dataclass fields')."""
  spec = _spec(name)
  return {
    f.name: f.default
    for f in dataclasses.fields(spec.params)
    if f.name not in spec.derived + _NOT_HYPER
  }


def model_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """The `model` block of model `name`: its defaults with `overrides`."""
  keys = block(defaults(name), overrides, "model", "seq2seq_jax/config/models.py", f" for {name!r}")
  return ml_collections.ConfigDict({"name": name, **keys.to_dict()})


def make_model(block, task: str, **derived) -> nn.Module:
  """config.model -> the model for `task`, with the data's sizes in `derived`."""
  if "name" not in block:
    raise ConfigError(f"config.model has no name; known: {', '.join(sorted(MODELS))}.")
  spec = _spec(block.name)
  if spec.task != task:
    ours = ", ".join(n for n, s in MODELS.items() if s.task == task)
    raise ConfigError(
      f"model.name={block.name!r} is a {spec.task} model; the {task} task takes: {ours}."
    )
  known, given = defaults(block.name), set(block.keys()) - {"name"}
  unknown, missing = sorted(given - set(known)), sorted(set(known) - given)
  if unknown or missing:
    raise ConfigError(
      f"config.model ({block.name}): "
      + "; ".join(
        f"{what} key(s) {', '.join(keys)}"
        for what, keys in (("unknown", unknown), ("missing", missing))
        if keys
      )
      + f". Its keys: {', '.join(known)} (seq2seq_jax/config/models.py)."
    )
  params = spec.params(**{k: block[k] for k in known}, **derived)
  if spec.check is not None:
    spec.check(params)
  return params if spec.module is None else spec.module(params)
