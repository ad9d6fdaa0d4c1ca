"""Data parallelism: 8 simulated CPU devices train the same model as 1 device."""

import logging
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.tasks import translation
from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from seq2seq_jax import train
    from seq2seq_jax.tasks import translation
    from tests.conftest import tiny_transformer_config
    assert jax.device_count() == 8, jax.devices()
    c = tiny_transformer_config()
    c.train.update(stop_after_steps=6, optimizer="sgd", learning_rate=0.1)
    workdir = __import__("pathlib").Path(sys.argv[1])
    workdir.mkdir(parents=True)
    task = translation.build_task(c, workdir)
    train.train_and_evaluate(task, c, sys.argv[1])
    params = train.restore_params(task.model, task.init_args, c, sys.argv[1], "latest")
    leaves = jax.tree_util.tree_leaves_with_path(params)
    np.savez(sys.argv[2], **{jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves})
""")


def run_on_eight_devices(script: str, *args) -> None:
  """Runs `script` with `args` in a fresh process that sees 8 simulated CPU devices."""
  env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS="--xla_force_host_platform_device_count=8")
  proc = subprocess.run(
    [sys.executable, "-c", script, *map(str, args)],
    env=env,
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]


def test_eight_devices_match_one_device(tiny_config, tmp_path):
  run_on_eight_devices(SCRIPT, tmp_path / "multi", tmp_path / "multi.npz")
  multi = np.load(tmp_path / "multi.npz")

  # SGD: Adam's normalised first steps would amplify reduction-order rounding.
  tiny_config.train.update(stop_after_steps=6, optimizer="sgd", learning_rate=0.1)
  (tmp_path / "single").mkdir()
  task = translation.build_task(tiny_config, tmp_path / "single")
  train.train_and_evaluate(task, tiny_config, tmp_path / "single")
  params = train.restore_params(
    task.model, task.init_args, tiny_config, tmp_path / "single", "latest"
  )
  leaves = jax.tree_util.tree_leaves_with_path(params)
  assert len(leaves) == len(multi.files)
  for path, x in leaves:
    np.testing.assert_allclose(np.asarray(x), multi[jax.tree_util.keystr(path)], atol=2e-5)


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    import jax, numpy as np
    from seq2seq_jax import train
    from seq2seq_jax.tasks import translation
    from tests.conftest import tiny_transformer_config
    assert jax.device_count() == 8, jax.devices()

    def cfg(stop=6):
      c = tiny_transformer_config()
      c.train.update(stop_after_steps=stop, optimizer="sgd", learning_rate=0.1)
      return c

    def run(workdir, stop):
      c = cfg(stop)
      workdir.mkdir(exist_ok=True)
      task = translation.build_task(c, workdir)
      train.train_and_evaluate(task, c, workdir)
      return task, c

    def dump(task, c, workdir, out):
      params = train.restore_params(task.model, task.init_args, c, workdir, "latest")
      leaves = jax.tree_util.tree_leaves_with_path(params)
      np.savez(out, **{jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves})

    one, eight, out = map(Path, sys.argv[1:4])
    c = cfg()
    task = translation.build_task(c, one)
    dump(task, c, one, out / "one_6_restored_on_8.npz")  # written on 1 device
    dump(*run(one, 12), one, out / "one_12.npz")  # continued here on 8
    dump(*run(eight, 6), eight, out / "eight_6.npz")  # written here, continued on 1
""")


def _params(task, config, workdir):
  params = train.restore_params(task.model, task.init_args, config, workdir, "latest")
  return {
    jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(params)
  }


def test_checkpoints_restore_and_continue_across_device_counts(tiny_config, tmp_path, caplog):
  """6 steps on 1 device, 6 more on 8; 6 steps on 8, 6 more on 1: same params."""
  tiny_config.train.update(stop_after_steps=6, optimizer="sgd", learning_rate=0.1)
  one, eight = tmp_path / "one", tmp_path / "eight"
  one.mkdir()
  task = translation.build_task(tiny_config, one)
  train.train_and_evaluate(task, tiny_config, one)
  one_6 = _params(task, tiny_config, one)

  run_on_eight_devices(RESUME_SCRIPT, one, eight, tmp_path)

  # a checkpoint restores bit-exactly on the other device count, both ways
  restored_on_8 = np.load(tmp_path / "one_6_restored_on_8.npz")
  eight_6 = np.load(tmp_path / "eight_6.npz")
  assert sorted(restored_on_8.files) == sorted(one_6) == sorted(eight_6.files)
  for k, x in one_6.items():
    np.testing.assert_array_equal(restored_on_8[k], x)
  task = translation.build_task(tiny_config, eight)
  for k, x in _params(task, tiny_config, eight).items():
    np.testing.assert_array_equal(x, eight_6[k])

  # and continues: 8 -> 1 and 1 -> 8 end at the same params (only summation order differs)
  tiny_config.train.stop_after_steps = 12
  with caplog.at_level(logging.INFO, logger="seq2seq_jax"):
    train.train_and_evaluate(task, tiny_config, eight)
  assert "resuming from step 6" in caplog.text
  one_12 = np.load(tmp_path / "one_12.npz")
  for k, x in _params(task, tiny_config, eight).items():
    np.testing.assert_allclose(x, one_12[k], atol=2e-5)


MULTI_HOST_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import jax
    jax.distributed.initialize(f"localhost:{sys.argv[3]}", 2, int(sys.argv[1]))
    from seq2seq_jax import train
    from seq2seq_jax.tasks import translation
    from tests.conftest import tiny_transformer_config
    assert (jax.process_count(), jax.device_count()) == (2, 4), jax.devices()
    c = tiny_transformer_config()
    c.train.update(stop_after_steps=5, optimizer="sgd", learning_rate=0.1)
    for key, value in json.loads(sys.argv[4]).items():  # the variant's config changes
      block, name = key.split(".")
      c[block][name] = value
    from seq2seq_jax.train import loop
    seen, batch_put = set(), loop.batch_put

    def spy(shard, batch_size):  # the rows each put is handed, of how many global rows
      put = batch_put(shard, batch_size)
      return lambda b: seen.add((len(b["tgt_out"]), batch_size)) or put(b)

    loop.batch_put = spy  # where the loop looks it up
    # the vocabulary files are written non-atomically: process 0 writes them, then the rest read
    from jax.experimental import multihost_utils
    if jax.process_index() == 0:
      task = translation.build_task(c, Path(sys.argv[2]))
    multihost_utils.sync_global_devices("vocabularies written")
    if jax.process_index() != 0:
      task = translation.build_task(c, Path(sys.argv[2]))
    train.train_and_evaluate(task, c, sys.argv[2])
    print("local rows of global rows:", sorted(seen))
""")


@pytest.mark.parametrize(
  "changes,rows",
  [
    ({}, [(16, 32)]),
    # token-counted buckets of 24 and 16 rows (edges 8, 12): each process half of each
    ({"train.max_tokens": 192, "data.bucket_edges": [8, 12]}, [(8, 24), (12, 24)]),
    ({"data.packing": True, "train.max_tokens": 512}, [(16, 32)]),  # 32 packed rows of 16
  ],
)
def test_two_processes_train_like_one_device(tiny_config, tmp_path, changes, rows):
  """jax.distributed: 2 processes x 2 CPU devices, each collating and feeding only its own
  rows (half of every train and eval batch) = 1 device; also with token-counted and with
  packed batches."""
  import json
  import socket

  with socket.socket() as s:
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  multi = tmp_path / "multi"
  multi.mkdir()
  env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS="--xla_force_host_platform_device_count=2")
  procs = [
    subprocess.Popen(
      [sys.executable, "-c", MULTI_HOST_SCRIPT, str(i), str(multi), str(port), json.dumps(changes)],
      env=env,
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]
  try:
    for p in procs:
      out, err = p.communicate(timeout=300)
      assert p.returncode == 0, err[-3000:]
      assert f"local rows of global rows: {rows}" in out, out[-3000:]
  finally:  # one crashed process leaves the other waiting for it
    for p in procs:
      if p.poll() is None:
        p.kill()

  tiny_config.train.update(stop_after_steps=5, optimizer="sgd", learning_rate=0.1)
  for key, value in changes.items():
    block, name = key.split(".")
    tiny_config[block][name] = value
  single = tmp_path / "single"
  single.mkdir()
  task = translation.build_task(tiny_config, single)
  train.train_and_evaluate(task, tiny_config, single)
  a, b = _params(task, tiny_config, single), _params(task, tiny_config, multi)
  assert sorted(a) == sorted(b)
  for k, x in a.items():
    np.testing.assert_allclose(b[k], x, atol=2e-5)
