import numpy as np
import pytest

from seq2seq_jax.data.pipeline import BucketedDataset, fit_edges
from seq2seq_jax.errors import ConfigError, DataError


def make(n=50, batch_size=8):
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, 20, n)
  examples = [dict(x=np.arange(1, k + 1, dtype=np.int32), x_len=k) for k in lengths]
  return BucketedDataset(examples, lengths, (5, 10, 20), batch_size, pad_values={"x": -1})


def test_fixed_shapes_and_every_example_exactly_once():
  ds = make()
  seen = []
  for batch in ds.batches(seed=1, epoch=0):
    assert batch["x"].shape[0] == 8 and batch["x"].shape[1] in (5, 10, 20)
    for row, i in enumerate(batch["index"]):
      if i < 0:
        assert batch["x_len"][row] == 0 and (batch["x"][row] == -1).all()
        continue
      seen.append(i)
      k = ds.examples[i]["x_len"]
      assert batch["x_len"][row] == k
      np.testing.assert_array_equal(batch["x"][row, :k], np.arange(1, k + 1))
      assert (batch["x"][row, k:] == -1).all()
  assert sorted(seen) == list(range(len(ds.examples)))
  assert {b["x"].shape[1] for b in ds.batches()} == ds.shapes()


def test_shuffle_is_seeded_per_epoch_and_resumable():
  ds = make()
  order = lambda **kw: [tuple(b["index"]) for b in ds.batches(**kw)]
  assert order(seed=3, epoch=1) == order(seed=3, epoch=1)
  assert order(seed=3, epoch=1) != order(seed=3, epoch=2)
  assert order(seed=3, epoch=1)[4:] == order(seed=3, epoch=1, start=4)
  assert len(order()) == ds.num_batches()


@pytest.mark.parametrize("sampling", ["shuffle", "balanced"])
@pytest.mark.parametrize("hosts", [2, 4])
def test_row_ranges_concatenate_to_the_global_batches(sampling, hosts):
  """Each of `hosts` processes collates its rows [lo, hi): together, the global batches."""
  ds = make()
  if sampling == "balanced":
    ds = BucketedDataset(
      ds.examples,
      ds.lengths,
      ds.edges,
      ds.batch_size,
      ds.pad_values,
      sampling="balanced",
      classes=np.arange(50) % 3,
      steps_per_epoch=10,
    )
  full = list(ds.batches(seed=3, epoch=1, start=1))
  per = ds.batch_size // hosts
  parts = [
    list(ds.batches(seed=3, epoch=1, start=1, rows=(h * per, (h + 1) * per))) for h in range(hosts)
  ]
  assert all(len(p) == len(full) for p in parts)
  for step, batch in enumerate(full):
    local = [p[step] for p in parts]
    assert all(b["x"].shape == (per, batch["x"].shape[1]) for b in local)
    for key, value in batch.items():
      np.testing.assert_array_equal(np.concatenate([b[key] for b in local]), value)
  if sampling == "shuffle":  # padded last batches, some with a host holding only padding
    assert any((b["index"] == -1).any() for b in full)
    assert hosts == 2 or any((b["index"][-per:] == -1).all() for b in full)
  with pytest.raises(ConfigError, match="row range"):
    next(ds.batches(rows=(4, 12)))


def test_too_long_and_empty_are_clear_errors():
  with pytest.raises(DataError, match="largest bucket"):
    BucketedDataset([dict(x=np.ones(30, np.int32))], np.array([30]), (5, 10), 4)
  with pytest.raises(DataError, match="empty"):
    BucketedDataset([], np.array([]), (5,), 4)


def test_fit_edges_adds_one_edge_up_to_the_limit():
  assert fit_edges((5, 10), [3, 10]) == (5, 10)  # everything fits: unchanged
  assert fit_edges((5, 10), [3, 13, 11]) == (5, 10, 16)  # the longest, up to a multiple of 8
  assert fit_edges((5, 10), [13], multiple=4) == (5, 10, 16)
  assert fit_edges((5, 10), [13], limit=(14, "model.max_len")) == (5, 10, 14)  # capped
  with pytest.raises(DataError, match=r"^test pairs: 2 longer than .* limit of 14 tokens "):
    fit_edges((5, 10), [13, 15, 20], limit=(14, "model.max_len"), what="test pairs")
