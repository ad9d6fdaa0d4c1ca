"""Every config file: builds for each of its arguments, holds the shared train/decode keys
(so a --config.train.x=... override works on all of them), refuses unknown arguments."""

import importlib.util

import pytest
from conftest import ROOT, load_config

from seq2seq_jax.config import DECODE, TRAIN, decode_config, train_config
from seq2seq_jax.config.data import data_config
from seq2seq_jax.errors import ConfigError


def config_args(name: str) -> list[str | None]:
  """The arguments a config accepts (its ARGS); [None] when its get_config takes none."""
  spec = importlib.util.spec_from_file_location(f"args_{name}", ROOT / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return list(getattr(module, "ARGS", [None]))


CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.py"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_has_the_shared_blocks(name):
  for arg in config_args(name):
    c = load_config(name, arg)
    assert set(TRAIN) <= set(c.train.keys()), (name, arg, set(TRAIN) - set(c.train.keys()))
    if c.task == "translation":
      assert set(DECODE) <= set(c.decode.keys()), (name, arg)


@pytest.mark.parametrize("name", [n for n in CONFIGS if config_args(n) != [None]])
def test_unknown_config_argument_is_refused(name):
  with pytest.raises(ValueError, match="unknown config argument 'nope'"):
    load_config(name, "nope")


def test_block_overrides_are_checked():
  assert train_config(batch_size=1).batch_size == 1
  assert decode_config().max_len == DECODE["max_len"]
  with pytest.raises(ValueError, match="unknown train key.*batchsize"):
    train_config(batchsize=1)


def test_data_block_overrides_are_checked():
  assert data_config("hello").repeat == 1
  assert data_config("numbers", "multi30k").src_lang == "de"
  with pytest.raises(ConfigError, match="unknown data key.*num_trian.*known: .*num_train"):
    data_config("numbers", num_trian=1)
  with pytest.raises(ConfigError, match="unknown dataset 'wmt99'; known: .*multi30k"):
    data_config("wmt99")
  with pytest.raises(ConfigError, match="unknown dataset 'names' for translation"):
    data_config("numbers", "names")
