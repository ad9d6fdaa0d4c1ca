"""The packer (data/packing.py): every pair once, rows within length, segments and positions."""

import numpy as np
import pytest

from seq2seq_jax.data.packing import pack
from seq2seq_jax.errors import DataError

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
