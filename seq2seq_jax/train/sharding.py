"""Data parallelism: the device mesh, each process's rows of a batch, device puts and fetches."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from seq2seq_jax.errors import ConfigError


def data_sharding() -> tuple[NamedSharding, NamedSharding]:
  """(batch sharding over all devices along the batch axis, replicated sharding)."""
  mesh = Mesh(np.array(jax.devices()), ("data",))
  return NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())


def host_rows(shard: NamedSharding, batch_size: int) -> tuple[int, int] | None:
  """Rows [lo, hi) of a [batch_size, ...] global batch on this process's devices, for
  `BucketedDataset.batches(rows=...)`; None (every row) when there is one process."""
  if jax.process_count() == 1:
    return None
  spans = sorted(
    {
      (i.start or 0, batch_size if i.stop is None else i.stop)
      for i, *_ in shard.addressable_devices_indices_map((batch_size,)).values()
    }
  )
  if any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
    raise ConfigError(
      f"process {jax.process_index()}'s devices hold rows {spans} of the "
      "batch, not one contiguous range: order the mesh's devices by process."
    )
  return spans[0][0], spans[-1][1]


def batch_put(shard: NamedSharding, batch_size: int):
  """numpy batch -> device batch. One device: as it is (jit takes it; a device_put per step
  costs more than a small step). Several: the batch axis sharded over them. Several
  processes (multi-host): the batch holds only this process's rows (`host_rows`; every
  process walks the same global order from the same seed) and becomes the global
  [batch_size, ...] array, so each host collates and feeds only its own shard of the data."""
  if jax.process_count() > 1:
    lo, hi = host_rows(shard, batch_size)
    # a batch of another size (token-counted buckets) holds the same share of its rows
    rows = lambda x: x.shape[0] * batch_size // (hi - lo)
    local = lambda x: jax.make_array_from_process_local_data(shard, x, (rows(x), *x.shape[1:]))
    return lambda b: jax.tree.map(local, b)
  if jax.device_count() == 1:
    return lambda b: b
  return lambda b: jax.device_put(b, shard)


def fetch(tree) -> Any:
  """Replicated device values (metric sums) as numpy, on one process or several."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def is_main_process() -> bool:
  """Writes run files (metrics, plots) on process 0 only; checkpoints are saved by all."""
  return jax.process_index() == 0
