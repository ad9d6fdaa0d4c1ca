"""One check of a whole config before a run touches anything: each key's type and range.

`validate(config)` walks the blocks (top level, train, decode, data, model, report) and
refuses the first bad value with one `ConfigError` naming the key, the value and what it
must be, e.g. `train.batch_size=0 must be an integer >= 1.` The rules are tables, one
line per key (`Rule`: kind, bounds, choices); a new config key adds its line here
(tests/test_validate.py fails for a key without one). A few keys depend on another
(`RELATIONS`: nbest <= beam_size, hid % heads, ...). Model names, data names and task
names are checked where they are looked up (config/models.py, config/data.py, cli.py);
the batch size's device-count multiple in train/loop.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from seq2seq_jax.data.vocab import SPECIALS
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import rnn
from seq2seq_jax.models.rnn_seq2seq import ATTENTIONS

_KINDS = {
  "int": "an integer",
  "float": "a finite number",
  "bool": "true or false",
  "str": "a string",
  "ints": "a tuple of integers",
  "strs": "a tuple of strings",
}


@dataclasses.dataclass(frozen=True)
class Rule:
  """What one key may hold. kind: int | float | bool | str, or ints | strs (tuples whose
  items follow the bounds / choices); lo, hi: bounds (open when lo_open / hi_open)."""

  kind: str
  lo: float | None = None
  hi: float | None = None
  lo_open: bool = False
  hi_open: bool = False
  choices: tuple[str, ...] = ()
  nonempty: bool = False  # tuples: at least one item
  increasing: bool = False  # tuples: strictly increasing

  def item_ok(self, v: Any) -> bool:
    kind = self.kind.rstrip("s") if self.kind in ("ints", "strs") else self.kind
    if kind == "bool":
      return isinstance(v, bool)
    if kind == "str":
      return isinstance(v, str) and (not self.choices or v in self.choices)
    if isinstance(v, bool) or not isinstance(v, int if kind == "int" else (int, float)):
      return False
    if not math.isfinite(v):
      return False
    lo_ok = self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
    hi_ok = self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)
    return lo_ok and hi_ok

  def ok(self, v: Any) -> bool:
    if self.kind not in ("ints", "strs"):
      return self.item_ok(v)
    if not isinstance(v, (tuple, list)) or not all(self.item_ok(x) for x in v):
      return False
    ordered = not self.increasing or all(a < b for a, b in zip(v, v[1:]))
    return ordered and (len(v) > 0 or not self.nonempty)

  def must(self) -> str:
    """`an integer >= 1`, `a finite number in [0, 1)`, `one of adam, sgd`, ..."""
    if self.choices:
      options = ", ".join(repr(c) if c == "" else c for c in self.choices)
      text = f"a tuple of {options}" if self.kind == "strs" else f"one of {options}"
    else:
      text = _KINDS[self.kind]
    lo, hi = ("(" if self.lo_open else "[", ")" if self.hi_open else "]")
    if self.lo is not None and self.hi is not None:
      text += f" in {lo}{_num(self.lo)}, {_num(self.hi)}{hi}"
    elif self.lo is not None:
      text += f" {'>' if self.lo_open else '>='} {_num(self.lo)}"
    elif self.hi is not None:
      text += f" {'<' if self.hi_open else '<='} {_num(self.hi)}"
    extra = [
      w for w, on in (("non-empty", self.nonempty), ("strictly increasing", self.increasing)) if on
    ]
    return f"a {', '.join(extra)} {text[2:]}" if extra else text


def _num(x: float) -> str:
  return str(int(x)) if float(x).is_integer() else f"{x:g}"


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
  return Rule("int", lo, hi)


def number(lo=None, hi=None, *, lo_open=False, hi_open=False) -> Rule:
  return Rule("float", lo, hi, lo_open, hi_open)


def choice(*options: str) -> Rule:
  return Rule("str", choices=options)


BOOL, TEXT = Rule("bool"), Rule("str")
COUNT, SIZE = integer(0), integer(1)  # >= 0 (0 often: off), >= 1
FRACTION = number(0, 1, hi_open=True)  # [0, 1): dropout, label smoothing, adam's betas
POSITIVE = number(0, lo_open=True)
NONNEG = number(0)

TOP: dict[str, Rule] = dict(task=TEXT, seed=COUNT)

TRAIN: dict[str, Rule] = dict(
  num_epochs=SIZE,
  batch_size=SIZE,
  max_tokens=COUNT,  # translation only (RELATIONS)
  eval_batch_size=SIZE,
  optimizer=choice("adam", "sgd", "adagrad"),
  learning_rate=POSITIVE,
  b1=FRACTION,
  b2=FRACTION,
  momentum=NONNEG,
  weight_decay=NONNEG,
  schedule=choice("constant", "warmup_rsqrt", "warmup_cosine"),
  warmup_steps=COUNT,
  decay_steps=COUNT,
  clip=NONNEG,
  label_smoothing=FRACTION,
  loss_reduction=choice("token", "sequence"),
  log_every_steps=SIZE,
  checkpoint_every_steps=COUNT,
  stop_after_steps=COUNT,
  early_stop_patience=COUNT,
  select_by=choice("loss", "bleu"),  # bleu: translation only (RELATIONS)
  keep_checkpoints=COUNT,
  tensorboard=BOOL,
  grad_accum_steps=SIZE,
  compute_dtype=choice("float32", "bfloat16"),
  matmul=choice("xla", "onednn"),
  fused_head_rows=COUNT,
  sampling=choice("shuffle", "balanced"),  # classification only (configs/char_rnn.py)
  steps_per_epoch=COUNT,
  class_balance=NONNEG,
)

DECODE: dict[str, Rule] = dict(
  max_len=SIZE,
  beam_size=SIZE,
  nbest=SIZE,
  length_penalty=NONNEG,
  eval_beam_sizes=Rule("ints", lo=1),
  num_samples=COUNT,
  show_eos=BOOL,
  attention_sentences=Rule("strs"),
  epoch_samples=COUNT,
  test_src=TEXT,
  test_ref=TEXT,
  test_name=TEXT,
  checkpoint=choice("best", "averaged", "latest"),
)

DATA: dict[str, Rule] = dict(  # config/data.py: every dataset's keys
  name=TEXT,
  dir=TEXT,
  cache_dir=TEXT,
  download=BOOL,
  tokenizer=choice("", "tutorial", "chars", "sentencepiece"),
  lowercase=BOOL,
  src_bos_eos=BOOL,
  src_eos=BOOL,
  specials=choice(*SPECIALS),
  vocab_splits=Rule("strs", choices=("train", "validation", "test"), nonempty=True),
  min_freq=SIZE,
  max_vocab=COUNT,
  bucket_edges=Rule("ints", lo=1, nonempty=True, increasing=True),
  packing=BOOL,  # the transformer only (RELATIONS)
  packed_length=Rule("ints", lo=0, nonempty=True),  # two of them (RELATIONS)
  pipeline=choice("memory", "grain"),
  workers=COUNT,
  vocab_size=integer(5),  # sentencepiece: the 4 specials and a piece
  spm_model=choice("unigram", "bpe"),
  shared_vocab=BOOL,
  spm_max_sentences=integer(101),  # sentencepiece's input_sentence_size must be > 100
  num_train=SIZE,  # numbers
  num_valid=SIZE,
  num_test=SIZE,
  max_value=integer(1, 999_999_999),
  seed=COUNT,
  src_lang=TEXT,  # multi30k (de | en, checked by its loader), wmt (a file suffix)
  tgt_lang=TEXT,
  max_words=COUNT,  # eng_fra
  reverse=BOOL,
  test_every=integer(2),
  valid_holdout=BOOL,
  repeat=SIZE,  # toys
  test_fraction=number(0, 1, lo_open=True, hi_open=True),  # names
  valid_fraction=number(0, 1, lo_open=True, hi_open=True),
  split_seed=COUNT,
)

_DROPOUT_RNG = choice("threefry", "hash")
MODEL: dict[str, dict[str, Rule]] = {  # model name -> its dataclass's fields (config/models.py)
  "transformer": dict(
    hid=SIZE,
    enc_layers=SIZE,
    dec_layers=SIZE,
    heads=SIZE,
    ff=SIZE,
    dropout=FRACTION,
    max_len=SIZE,
    positions=choice("learned", "sinusoidal"),
    norm=choice("post", "pre"),
    shared_layer_norm=BOOL,
    dropout_rng=_DROPOUT_RNG,
  ),
  "rnn": dict(
    embed=COUNT,
    hidden=SIZE,
    cell=choice(*rnn.CELLS),
    activation=choice(*rnn.ACTIVATIONS),
    enc_layers=SIZE,
    dec_layers=SIZE,
    bidirectional=BOOL,
    attention=choice(*ATTENTIONS),
    max_length=COUNT,  # >= 1 with attention=fixed (RELATIONS)
    fixed_slots=choice("source", "all"),
    bridge=choice("copy", "tanh", "zeros"),
    dropout=FRACTION,
    enc_dropout=FRACTION,
    teacher_forcing=number(0, 1),
    coin=choice("sequence", "step"),
    schedule=choice("constant", "linear", "inverse_sigmoid"),
    schedule_steps=POSITIVE,
    unroll=SIZE,
    dropout_rng=_DROPOUT_RNG,
  ),
  "char_rnn": dict(
    cell=choice("tutorial", *rnn.CELLS),
    hidden=SIZE,
    num_layers=SIZE,
    bidirectional=BOOL,
    input=choice("onehot", "embed"),
    embed_dim=SIZE,
    dropout=FRACTION,
    dropout_rng=_DROPOUT_RNG,
  ),
  "tagger": dict(
    cell=choice(*rnn.CELLS),
    hidden=SIZE,
    layers=SIZE,
    activation=choice(*rnn.ACTIVATIONS),
    embed=COUNT,
    head=choice("none", "linear"),
  ),
}

REPORT: dict[str, Rule] = dict(  # classification
  topk=SIZE, sample_every_epochs=COUNT, logit_adjustment=NONNEG, tune_logit_adjustment=BOOL
)


def rules(config: Mapping) -> dict[str, Rule]:
  """Dotted key -> its rule, for the blocks `config` has (the model's by its name)."""
  model = config.get("model") or {}
  blocks = dict(
    train=TRAIN, decode=DECODE, data=DATA, model=MODEL.get(model.get("name"), {}), report=REPORT
  )
  out = dict(TOP)
  for block, table in blocks.items():
    out.update({f"{block}.{k}": r for k, r in table.items()})
  if "name" in model:
    out["model.name"] = TEXT
  return out


def _get(config: Mapping, key: str, default: Any = None) -> Any:
  """config's value at the dotted `key` (a ConfigDict or nested dicts), else default."""
  node = config
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node:
      return default
    node = node[part]
  return node


# Keys bounded by another key: (key, applies(v), ok(v), must(v)), v(dotted key) -> value.
Relation = tuple[str, Callable[[Callable], bool], Callable[[Callable], bool], Callable[..., str]]
RELATIONS: tuple[Relation, ...] = (
  (
    "decode.nbest",
    lambda v: True,
    lambda v: v("decode.nbest") <= v("decode.beam_size"),
    lambda v: f"an integer in [1, decode.beam_size={v('decode.beam_size')}]",
  ),
  (
    "model.hid",
    lambda v: v("model.name") == "transformer",
    lambda v: v("model.hid") % v("model.heads") == 0,
    lambda v: f"a multiple of model.heads={v('model.heads')}",
  ),
  (
    "model.max_length",
    lambda v: v("model.name") == "rnn" and v("model.attention") == "fixed",
    lambda v: v("model.max_length") >= 1,
    lambda v: "an integer >= 1 with model.attention=fixed (its slots)",
  ),
  (
    "train.decay_steps",
    lambda v: v("train.schedule") == "warmup_cosine",
    lambda v: v("train.decay_steps") > v("train.warmup_steps"),
    lambda v: f"> train.warmup_steps={v('train.warmup_steps')} with train.schedule=warmup_cosine",
  ),
  (
    "data.specials",
    lambda v: v("data.tokenizer") == "sentencepiece",
    lambda v: v("data.specials") == "torchtext",
    lambda v: "torchtext with data.tokenizer=sentencepiece (its model's ids 0..3)",
  ),
  (
    "train.select_by",
    lambda v: v("train.select_by") == "bleu",
    lambda v: v("task") == "translation",
    lambda v: f"loss for a {v('task')} task (bleu: the validation BLEU of translation runs)",
  ),
  (
    "train.max_tokens",
    lambda v: v("train.max_tokens") > 0,
    lambda v: v("task") == "translation",
    lambda v: f"0 for a {v('task')} task (token-counted batches: translation runs)",
  ),
  (
    "data.packing",
    lambda v: v("data.packing"),
    lambda v: v("model.name") == "transformer",
    lambda v: f"False with model.name={v('model.name')} (packing: the transformer only)",
  ),
  (
    "train.max_tokens",
    lambda v: v("train.max_tokens") > 0 and v("data.pipeline") == "grain",
    lambda v: v("data.packing"),
    lambda v: (
      "0 with data.pipeline=grain and data.packing=False (its buckets have train.batch_size "
      "rows; token-counted: data.packing=True or data.pipeline=memory)"
    ),
  ),
  (
    "data.packed_length",
    lambda v: True,
    lambda v: len(v("data.packed_length")) == 2,
    lambda v: "two integers >= 0: (source, target) tokens per packed row (0: largest edge)",
  ),
  (
    "train.steps_per_epoch",
    lambda v: v("train.sampling") == "balanced",
    lambda v: v("train.steps_per_epoch") >= 1,
    lambda v: "an integer >= 1 with train.sampling=balanced",
  ),
)


def validate(config: Mapping) -> None:
  """Raises ConfigError for the first key whose value breaks its rule, then its relations."""
  missing = object()
  for key, rule in rules(config).items():
    value = _get(config, key, missing)
    if value is not missing and not rule.ok(value):
      raise ConfigError(f"{key}={value!r} must be {rule.must()}.")
  v = lambda key: _get(config, key)
  for key, applies, ok, must in RELATIONS:
    if v(key) is not None and applies(v) and not ok(v):
      raise ConfigError(f"{key}={v(key)!r} must be {must(v)}.")
