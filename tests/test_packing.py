"""The packer (data/packing.py): every pair once, rows within length, segments and
positions; the packed training dataset; token-counted batch sizes (data/pipeline.py)."""

import numpy as np
import pytest

from seq2seq_jax.data.packing import PackedDataset, pack
from seq2seq_jax.data.pipeline import BucketedDataset, token_batch_sizes, token_rows
from seq2seq_jax.errors import ConfigError, DataError

PAD = 0


def pairs(n=200, seed=0, longest=12):
  """Pairs with distinct contents: src = [i, i, ...], tgt_in = [-i ...], tgt_out = [~i ...]."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(1, n + 1):
    s, t = rng.integers(1, longest + 1, 2)
    out.append(
      dict(
        src=np.full(s, i, np.int32),
        tgt_in=np.full(t, -i, np.int32),
        tgt_out=np.full(t, 1000 + i, np.int32),
        src_len=s,  # other keys are ignored
      )
    )
  return out


def unpack(batch):
  """The pairs of a packed batch, row by row, as (src, tgt_in, tgt_out) tuples."""
  found = []
  for r in range(batch["src"].shape[0]):
    for seg in range(1, batch["pairs"][r] + 1):
      s, t = batch["src_segment"][r] == seg, batch["tgt_segment"][r] == seg
      for side, m in (("src", s), ("tgt", t)):
        pos = batch[f"{side}_position"][r][m]
        np.testing.assert_array_equal(pos, np.arange(m.sum()))  # 0.. per segment
        assert np.all(np.diff(np.flatnonzero(m)) == 1)  # contiguous
      src, tin, tout = batch["src"][r][s], batch["tgt_in"][r][t], batch["tgt_out"][r][t]
      found.append((tuple(src), tuple(tin), tuple(tout)))
    assert batch["src_segment"][r].max(initial=0) == batch["pairs"][r]
    assert batch["tgt_segment"][r].max(initial=0) == batch["pairs"][r]
    for side in ("src", "tgt"):
      pad = batch[f"{side}_segment"][r] == 0
      assert (batch[f"{side}_position"][r][pad] == 0).all()
      assert (batch["src" if side == "src" else "tgt_in"][r][pad] == PAD).all()
  return found


@pytest.mark.parametrize("defer", [0, None, 50])
def test_every_pair_once_fixed_shape_segments_positions(defer):
  examples = pairs()
  batches = list(pack(examples, rows=8, src_length=20, tgt_length=16, pad_id=PAD, defer=defer))
  found = []
  for b in batches:
    assert b["src"].shape == b["src_segment"].shape == b["src_position"].shape == (8, 20)
    for k in ("tgt_in", "tgt_out", "tgt_segment", "tgt_position"):
      assert b[k].shape == (8, 16) and b[k].dtype == np.int32
    assert b["pairs"].shape == (8,)
    found += unpack(b)
  want = [(tuple(e["src"]), tuple(e["tgt_in"]), tuple(e["tgt_out"])) for e in examples]
  assert sorted(found) == sorted(want)
  assert len(found) == len(set(found))
  assert len(batches) < len(examples) / 8  # several pairs share a row


def test_deterministic_from_the_input_order():
  examples = pairs()
  run = lambda ex: [
    b["src"].tolist() for b in pack(ex, rows=4, src_length=16, tgt_length=16, pad_id=PAD)
  ]
  assert run(examples) == run(iter(examples))  # any iterable, same packing
  shuffled = [examples[i] for i in np.random.default_rng(1).permutation(len(examples))]
  assert run(shuffled) != run(examples)


def test_too_long_is_a_data_error_naming_it():
  examples = pairs(5, longest=4) + [dict(src=np.ones(9), tgt_in=np.ones(3), tgt_out=np.ones(3))]
  with pytest.raises(DataError, match=r"example 5 .*data\.packed_length"):
    list(pack(examples, rows=2, src_length=8, tgt_length=8, pad_id=PAD))


def dataset(batch_size=8, seed=3):
  return PackedDataset(pairs(), batch_size, 20, 16, PAD, seed)


def test_packed_dataset_epochs_hold_every_pair_once_in_a_fixed_shape():
  ds = dataset()
  want = sorted((tuple(e["src"]), tuple(e["tgt_in"]), tuple(e["tgt_out"])) for e in ds.examples)
  for epoch in (0, 1):
    batches = list(ds.batches(seed=5, epoch=epoch))
    assert len(batches) == ds.num_batches()
    assert {(b["src"].shape, b["tgt_in"].shape) for b in batches} == {((8, 20), (8, 16))}
    assert sorted(p for b in batches for p in unpack(b)) == want
  assert (batches[-1]["pairs"] == 0).any()  # the last batch filled with empty rows


def test_packed_dataset_is_seeded_per_epoch_resumable_and_sliced_by_rows():
  ds = dataset()
  epoch = lambda **kw: [b["src"].tolist() for b in ds.batches(seed=5, **kw)]
  assert epoch(epoch=1) == epoch(epoch=1)
  assert epoch(epoch=1) == [b["src"].tolist() for b in dataset().batches(seed=5, epoch=1)]
  assert epoch(epoch=1) != epoch(epoch=2)
  assert epoch(epoch=1)[3:] == epoch(epoch=1, start=3)  # resume at step 3 of the epoch
  whole = list(ds.batches(seed=5, epoch=1))
  halves = zip(ds.batches(seed=5, epoch=1, rows=(0, 4)), ds.batches(seed=5, epoch=1, rows=(4, 8)))
  for b, (lo, hi) in zip(whole, halves, strict=True):
    for k in b:
      np.testing.assert_array_equal(b[k], np.concatenate([lo[k], hi[k]]))
  with pytest.raises(DataError, match=r"example 0 .*data\.packed_length"):
    PackedDataset(pairs(longest=30), 8, 20, 16, PAD)


def test_token_counted_rows_per_bucket():
  assert token_batch_sizes(1000, (10, 20, 48), 4) == (100, 48, 20)
  assert token_rows(1000, 128, 1, "packed length") == 7
  with pytest.raises(ConfigError, match=r"train\.max_tokens=100 .*at least 192"):
    token_batch_sizes(100, (10, 48), 4)
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, 20, 60)
  examples = [dict(x=np.arange(1, k + 1, dtype=np.int32)) for k in lengths]
  sizes = token_batch_sizes(40, (5, 10, 20), 2)
  ds = BucketedDataset(examples, lengths, (5, 10, 20), max(sizes), batch_sizes=sizes)
  seen = []
  for b in ds.batches(seed=1):
    assert b["x"].shape in {(8, 5), (4, 10), (2, 20)}  # each bucket its own fixed shape
    seen += [i for i in b["index"] if i >= 0]
  assert sorted(seen) == list(range(60))
  lo, hi = ds.batches(seed=1, rows=(0, 4)), ds.batches(seed=1, rows=(4, 8))
  for b, x, y in zip(ds.batches(seed=1), lo, hi, strict=True):  # two hosts: half each
    np.testing.assert_array_equal(b["x"], np.concatenate([x["x"], y["x"]]))
