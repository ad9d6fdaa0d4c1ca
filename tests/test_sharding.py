"""Data parallelism: 8 simulated CPU devices train the same model as 1 device."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from seq2seq_jax import train, translation
from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from seq2seq_jax import train, translation
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


def test_eight_devices_match_one_device(tiny_config, tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT),
             XLA_FLAGS="--xla_force_host_platform_device_count=8")
  proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "multi"),
                         str(tmp_path / "multi.npz")], env=env, cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  multi = np.load(tmp_path / "multi.npz")

  # SGD: Adam's normalised first steps would amplify reduction-order rounding.
  tiny_config.train.update(stop_after_steps=6, optimizer="sgd", learning_rate=0.1)
  (tmp_path / "single").mkdir()
  task = translation.build_task(tiny_config, tmp_path / "single")
  train.train_and_evaluate(task, tiny_config, tmp_path / "single")
  params = train.restore_params(task.model, task.init_args, tiny_config, tmp_path / "single",
                                "latest")
  leaves = jax.tree_util.tree_leaves_with_path(params)
  assert len(leaves) == len(multi.files)
  for path, x in leaves:
    np.testing.assert_allclose(np.asarray(x), multi[jax.tree_util.keystr(path)], atol=2e-5)
