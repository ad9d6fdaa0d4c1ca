import pytest

from seq2seq_jax.data.vocab import TORCHTEXT_SPECIALS, Vocab
from seq2seq_jax.errors import DataError


def test_build_orders_by_frequency_then_alphabet_and_applies_min_freq():
  v = Vocab.build([["b", "a", "c"], ["a", "b", "d"], ["a"]], min_freq=2)
  assert v.tokens == TORCHTEXT_SPECIALS + ("a", "b")
  assert (v.unk_id, v.pad_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)


def test_max_size_keeps_most_frequent():
  v = Vocab.build([["x", "y", "y", "z", "z", "z"]], max_size=2)
  assert v.tokens[4:] == ("z", "y")


def test_encode_maps_oov_to_unk_and_reports_it():
  v = Vocab.build([["hello", "world"]])
  ids, oov = v.encode(["hello", "there", "world"])
  assert ids == [v.id("hello"), v.unk_id, v.id("world")]
  assert oov == ["there"]


def test_decode_stops_at_eos_and_drops_pad_and_bos():
  v = Vocab.build([["a", "b"]])
  ids = [v.bos_id, v.id("a"), v.pad_id, v.id("b"), v.eos_id, v.id("a")]
  assert v.decode(ids) == ["a", "b"]


def test_save_load_roundtrip(tmp_path):
  v = Vocab.build([["é", "ß", "a"]])
  v.save(tmp_path / "v.json")
  assert Vocab.load(tmp_path / "v.json") == v


def test_load_errors_are_readable(tmp_path):
  with pytest.raises(DataError, match="missing"):
    Vocab.load(tmp_path / "nope.json")
  (tmp_path / "bad.json").write_text("{not json")
  with pytest.raises(DataError, match="malformed"):
    Vocab.load(tmp_path / "bad.json")
