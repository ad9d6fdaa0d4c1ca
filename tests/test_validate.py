"""config/validate.py: every key of every shipped config has a rule, passes it as shipped, and
each value that breaks the rule is one ConfigError naming the key; the command line refuses a
bad value or a file as --workdir with one `error:` line before writing anything."""

import math
import re

import ml_collections
import pytest
from conftest import load_config
from test_configs import CONFIGS, config_args

from seq2seq_jax.config.validate import Rule, rules, validate
from seq2seq_jax.errors import ConfigError
from tests.conftest import assert_user_error, cli

RUNS = [(name, arg) for name in CONFIGS for arg in config_args(name)]


def leaves(block, prefix=""):
  """The dotted keys of a config's values."""
  for key, value in block.items():
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      yield from leaves(value, f"{prefix}{key}.")
    else:
      yield prefix + key


def bad_values(rule: Rule) -> list:
  """Values that break `rule`: past each bound, NaN, an unknown choice, a wrong type."""
  if rule.kind in ("ints", "strs"):
    item = Rule(rule.kind[:-1], rule.lo, rule.hi, rule.lo_open, rule.hi_open, rule.choices)
    out = [(v,) for v in bad_values(item)] + [5]  # a bad item; not a tuple
    if rule.nonempty:
      out.append(())
    if rule.increasing:
      out += [(2, 2), (3, 2)]
    return out
  if rule.kind == "bool":
    return ["yes", 1]
  if rule.kind == "str":
    return [1] + (["nope"] if rule.choices else [])
  out = ["1"]  # a string for a number
  if rule.lo is not None:
    out.append(rule.lo if rule.lo_open else rule.lo - 1)
  if rule.hi is not None:
    out.append(rule.hi if rule.hi_open else rule.hi + 1)
  if rule.kind == "int":
    return out + [1.5, True]
  return out + [math.nan, math.inf]


def with_value(config, key: str, value):
  """A copy of config with `key` set to `value` (bypassing the ConfigDict's type checks)."""
  d = config.to_dict()
  *path, last = key.split(".")
  node = d
  for part in path:
    node = node[part]
  node[last] = value
  return ml_collections.ConfigDict(d)


@pytest.mark.parametrize("name,arg", RUNS)
def test_every_shipped_config_passes_and_every_key_has_a_rule(name, arg):
  c = load_config(name, arg)
  validate(c)
  table = rules(c)
  assert [k for k in leaves(c) if k not in table] == [], "add its rule to config/validate.py"


@pytest.mark.parametrize("name,arg", RUNS)
def test_each_bad_value_names_its_key(name, arg):
  c = load_config(name, arg)
  table = rules(c)
  for key in leaves(c):
    for value in bad_values(table[key]):
      with pytest.raises(ConfigError, match=rf"^{re.escape(key)}=.* must be "):
        validate(with_value(c, key, value))


def test_the_message_names_key_value_and_range():
  c = load_config("transformer")
  with pytest.raises(ConfigError, match=r"^train\.batch_size=0 must be an integer >= 1\.$"):
    validate(with_value(c, "train.batch_size", 0))
  with pytest.raises(ConfigError, match=r"^train\.b2=1\.0 must be a finite number in \[0, 1\)\.$"):
    validate(with_value(c, "train.b2", 1.0))
  with pytest.raises(ConfigError, match=r"train\.optimizer='adamw' must be one of adam, sgd"):
    validate(with_value(c, "train.optimizer", "adamw"))
  with pytest.raises(ConfigError, match=r"data\.bucket_edges=\(16, 12\) must be a non-empty, "):
    validate(with_value(c, "data.bucket_edges", (16, 12)))
  validate(with_value(c, "data.bucket_edges", [8, 12]))  # a saved config.json holds lists


@pytest.mark.parametrize(
  "name,arg,key,value,fragment",
  [
    ("transformer", None, "decode.nbest", 5, "decode.beam_size=4"),
    ("transformer", None, "model.hid", 30, "a multiple of model.heads=8"),
    ("gru_attention", None, "model.max_length", 0, "attention=fixed"),
    ("gru_attention", "best", "train.decay_steps", 300, "train.warmup_steps=300"),
    ("char_rnn", "balanced", "train.steps_per_epoch", 0, "train.sampling=balanced"),
    ("gru_attention", None, "data.packing", True, "model.name=rnn .packing: the transformer"),
    ("char_rnn", None, "train.max_tokens", 4096, "0 for a classification task"),
  ],
)
def test_keys_bounded_by_another_key(name, arg, key, value, fragment):
  c = load_config(name, arg)
  with pytest.raises(ConfigError, match=rf"^{re.escape(key)}={value} must be .*{fragment}"):
    validate(with_value(c, key, value))


def test_streamed_token_batches_need_packing():
  c = load_config("transformer", "wmt14_base")
  validate(c)  # packed, token-counted rows
  bucketed = with_value(c, "data.packing", False)
  with pytest.raises(
    ConfigError,
    match=r"^train\.max_tokens=24576 must be 0 with data\.pipeline=grain and data\.packing=False",
  ):
    validate(bucketed)
  validate(with_value(bucketed, "train.max_tokens", 0))


def test_packed_length_is_a_source_and_a_target_length():
  c = load_config("transformer")
  validate(with_value(c, "data.packed_length", (128, 124)))
  with pytest.raises(ConfigError, match=r"^data\.packed_length=\(64,\) must be two integers"):
    validate(with_value(c, "data.packed_length", (64,)))


def test_select_by_bleu_is_for_translation_runs_only():
  validate(with_value(load_config("transformer"), "train.select_by", "bleu"))
  for name in ("char_rnn", "srn_hello"):
    with pytest.raises(ConfigError, match=r"^train\.select_by='bleu' must be loss for a "):
      validate(with_value(load_config(name), "train.select_by", "bleu"))


def test_bigru_max_length_0_is_fine_without_fixed_attention():
  validate(load_config("bigru_beam"))  # attention=additive, max_length=0


@pytest.mark.parametrize("value", ["0", "-3"])
def test_cli_refuses_a_bad_batch_size_before_writing(tmp_path, value):
  workdir = tmp_path / "w"
  proc = cli(
    "--config=configs/transformer.py", f"--workdir={workdir}", f"--config.train.batch_size={value}"
  )
  assert_user_error(proc, f"train.batch_size={value}", ">= 1")
  assert not workdir.exists()


def test_cli_validates_the_saved_config_with_the_decode_overrides(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(load_config("transformer").to_json())
  proc = cli(
    "--mode=evaluate",
    f"--workdir={run}",
    "--config=configs/transformer.py",
    "--config.decode.beam_size=0",
  )
  assert_user_error(proc, "decode.beam_size=0")
  assert [p.name for p in run.iterdir()] == ["config.json"]


def test_cli_refuses_a_file_as_workdir(tmp_path):
  path = tmp_path / "afile"
  path.write_text("x")
  for workdir in (path, path / "sub"):
    proc = cli("--config=configs/transformer.py", f"--workdir={workdir}")
    assert_user_error(proc, f"--workdir={workdir}", "is a file")
  assert path.read_text() == "x"
