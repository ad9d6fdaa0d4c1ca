"""The token store (data/token_store.py): the streamed training set tokenised once into flat
files, read by offset: the records back exactly, rebuilt when the vocabulary changes, and
damaged files refused with a message."""

import os
import pickle

import numpy as np
import pytest

from seq2seq_jax.data import registry, token_store
from seq2seq_jax.data.streaming import StreamedPairs
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.errors import DataError
from seq2seq_jax.tasks import translation
from tests.conftest import wmt_config


def records(n, seed=0):
  rng = np.random.default_rng(seed)
  for i in range(n):
    src, tgt = rng.integers(0, 70_000, rng.integers(0, 9)), rng.integers(0, 70_000, 1 + i % 5)
    yield max(len(src), len(tgt) - 1), src, tgt


def test_records_read_back_exactly_in_any_order_and_after_pickling(tmp_path):
  store = token_store.build(tmp_path / "s", records(200), {"k": 1}, "int32")
  want = [(s, t) for _, s, t in records(200)]
  order = np.random.default_rng(1).permutation(200).tolist()
  for i, (s, t) in zip(order, store.__getitems__(order)):
    np.testing.assert_array_equal(s, want[i][0])
    np.testing.assert_array_equal(t, want[i][1])
  assert store.counts == {n: sum(1 for m, _, _ in records(200) if m == n) for n in store.counts}
  again = pickle.loads(pickle.dumps(store))  # a grain worker's copy opens its own files
  assert "_fds" not in again.__dict__
  np.testing.assert_array_equal(again[7][1], want[7][1])
  with pytest.raises(IndexError):
    store[200]


def test_a_store_is_reused_only_for_its_key_and_complete_files(tmp_path):
  token_store.build(tmp_path / "s", records(10), {"k": 1}, "uint16")
  assert len(token_store.load(tmp_path / "s", {"k": 1})) == 10
  assert token_store.load(tmp_path / "s", {"k": 2}) is None  # another vocabulary
  os.remove(tmp_path / "s.tokens")
  assert token_store.load(tmp_path / "s", {"k": 1}) is None  # rebuilt, not half read


def test_a_truncated_store_is_refused_with_the_fix(tmp_path):
  store = token_store.build(tmp_path / "s", records(50), {"k": 1}, "int32")
  with open(tmp_path / "s.tokens", "r+b") as f:
    f.truncate(8)
  with pytest.raises(DataError, match="truncated.*delete"):
    store.__getitems__(list(range(50)))
  store = token_store.build(tmp_path / "t", records(50), {"k": 1}, "int32")
  with open(tmp_path / "t.index", "r+b") as f:
    f.truncate(16 * 40)  # the offsets of the last records are gone
  with pytest.raises(DataError, match="truncated.*delete"):
    store.__getitems__([45])


def test_the_dtype_is_uint16_while_every_id_fits():
  assert token_store.dtype_for(8000, 65536) == "uint16"
  assert token_store.dtype_for(8000, 65537) == "int32"


def test_the_stored_examples_are_the_record_encoders_and_a_new_vocabulary_rebuilds_them(
  sample,  # noqa: F811
  tmp_path,
):
  c = wmt_config(sample, tmp_path)
  data = StreamedPairs(registry.stream_parallel(c.data))
  src_vocab, tgt_vocab = translation.vocabs_for(c, tmp_path, data)
  pair = translation.PairEncoder.of(c, src_vocab, tgt_vocab)
  store = translation.streamed_dataset(c, tmp_path, data, src_vocab, tgt_vocab).source
  stored = translation.StoredEncoder()
  ids = [0, 5, 17, len(data.train) - 1]
  for i, raw, kept in zip(ids, data.train.__getitems__(ids), store.__getitems__(ids)):
    (n, want), (m, got) = pair(*data.stream.text(raw)), stored(i, kept)
    assert n == m and {**want, "index": i}.keys() == got.keys() and got["index"] == i
    for k in want:
      np.testing.assert_array_equal(got[k], want[k])
  small = Vocab(tokens=src_vocab.tokens[:20])  # a different vocabulary: more <unk>
  rebuilt = translation.streamed_dataset(c, tmp_path, data, small, tgt_vocab).source
  assert rebuilt.key != store.key
  assert max(int(rebuilt[i][0].max()) for i in range(len(rebuilt))) < 20
