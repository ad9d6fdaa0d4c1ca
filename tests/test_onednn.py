"""train.matmul=onednn: oneDNN's bf16 matmul through jax.ffi equals XLA's bf16 dot, forward
and gradients; the switch routes every Dense layer of a train step through it and keeps the
step close to fp32; a machine without oneDNN or a compiler gets one readable error.

The kernel tests need oneDNN (requirements.txt installs it from PyPI on x86-64 Linux; or
`apt install libdnnl-dev`) and a C++ compiler, and are skipped, saying so, where they are
missing."""

import re
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.kernels import onednn
from seq2seq_jax.tasks import translation
from tests.conftest import ROOT

needs_onednn = pytest.mark.skipif(
  bool(onednn.problem()), reason=f"oneDNN kernel unavailable here: {onednn.problem()}"
)


@needs_onednn
@pytest.mark.parametrize("m,k,n", [(64, 32, 48), (37, 256, 129)])
def test_matmul_and_its_gradients_equal_xla_bf16_dot(m, k, n):
  rng = np.random.default_rng(m)
  x = jnp.asarray(rng.standard_normal((m, k)), jnp.bfloat16)
  w = jnp.asarray(rng.standard_normal((k, n)), jnp.bfloat16)
  probe = jnp.asarray(rng.standard_normal((m, n)), jnp.float32)  # a non-uniform cotangent
  loss = lambda mm: lambda x, w: jnp.sum(mm(x, w).astype(jnp.float32) * probe)
  ours = jax.jit(jax.value_and_grad(loss(onednn.matmul), (0, 1)))(x, w)
  xla = jax.jit(jax.value_and_grad(loss(jnp.dot), (0, 1)))(x, w)
  exact = np.asarray(x, np.float32) @ np.asarray(w, np.float32)
  got = np.asarray(jax.jit(onednn.matmul)(x, w), np.float32)
  # both round an fp32 accumulation to bf16: within one bf16 ulp of the exact product
  np.testing.assert_allclose(got, exact, rtol=2**-7, atol=1e-6 * np.abs(exact).max())
  np.testing.assert_allclose(float(ours[0]), float(xla[0]), rtol=1e-2)
  for a, b in zip(ours[1], xla[1], strict=True):  # dx = dy W^T, dW = x^T dy (transposed layouts)
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=2**-6, atol=2**-6 * np.abs(b).max())


@needs_onednn
@pytest.mark.parametrize("compute_dtype", ["float32", "bfloat16"])
def test_onednn_train_step_routes_every_dense_and_stays_close_to_fp32(
  tiny_config, tmp_path, compute_dtype
):
  tiny_config.model.dropout = 0.0
  task = translation.build_task(tiny_config, tmp_path)
  batch = next(iter(task.train_data.batches(seed=0, epoch=0)))
  params = train.create_state(task.model, task.init_args, tiny_config).params

  def loss(matmul):
    def f(p):
      with onednn.intercept(matmul):
        return task.loss_fn(p, batch, jax.random.PRNGKey(0), False, 0)[0]

    return f

  denses = sum(
    1 for path, _ in jax.tree_util.tree_leaves_with_path(params) if "kernel" in str(path[-1])
  )
  jaxpr = str(jax.make_jaxpr(jax.grad(loss("onednn")))(params))
  # each Dense: one call forward and two in its VJP (dx, dW); no Dense is left to XLA
  assert jaxpr.count("Seq2seqOnednnMatmul") == 3 * denses, denses

  state = lambda: train.create_state(task.model, task.init_args, tiny_config)
  step32, _ = train.make_steps(task.loss_fn)
  ours, _ = train.make_steps(task.loss_fn, compute_dtype=compute_dtype, matmul="onednn")
  s32, sums32, g32 = step32(state(), batch)
  s1, sums1, g1 = ours(state(), batch)
  np.testing.assert_allclose(sums1.loss / sums1.weight, sums32.loss / sums32.weight, rtol=2e-2)
  np.testing.assert_allclose(float(g1), float(g32), rtol=5e-2)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(s1.params))  # fp32 master weights
  moved = lambda s: [
    np.abs(np.asarray(a) - np.asarray(b)).max()
    for a, b in zip(jax.tree.leaves(s.params), jax.tree.leaves(state().params))
  ]
  assert min(moved(s1)) > 0  # every parameter got an update through the kernel's gradients


@needs_onednn
def test_a_bare_matmul_needs_no_set_up_and_the_version_is_named():
  code = (
    "import jax.numpy as jnp; from seq2seq_jax.kernels import onednn; "
    "print(float(onednn.matmul(jnp.ones((3, 4), jnp.bfloat16), jnp.ones((4, 5), jnp.bfloat16))"
    ".astype(jnp.float32).sum()), onednn.version())"
  )  # a fresh process: nothing registered the handlers before the call
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
  assert done.returncode == 0, done.stderr[-2000:]
  total, version = done.stdout.split(" ", 1)
  assert float(total) == 60.0  # 3 x 5 entries of 4
  assert re.fullmatch(r"oneDNN \d+\.\d+\.\d+\n", version)


def test_unknown_kernel_and_missing_onednn_are_one_readable_error(tmp_path, monkeypatch):
  with pytest.raises(ConfigError, match="unknown train.matmul 'mkl'; use xla or onednn"):
    onednn.intercept("mkl")
  monkeypatch.delenv("ONEDNN_ROOT", raising=False)
  with pytest.raises(ConfigError, match="no oneDNN found .*onednn-devel-cpu-gomp==2023.2.0"):
    onednn.find_onednn(roots=[tmp_path])


@pytest.mark.skipif(not shutil.which("c++"), reason="no C++ compiler here")
def test_a_failed_build_names_the_compiler_error_and_leaves_no_library(tmp_path, monkeypatch):
  fake = tmp_path / "fake_onednn"  # headers and library present but empty: the build fails
  (fake / "include" / "oneapi" / "dnnl").mkdir(parents=True)
  (fake / "include" / "oneapi" / "dnnl" / "dnnl.hpp").write_text("#error not a oneDNN\n")
  (fake / "lib").mkdir()
  (fake / "lib" / "libdnnl.so").write_bytes(b"")
  monkeypatch.setenv("ONEDNN_ROOT", str(fake))
  monkeypatch.setenv("SEQ2SEQ_JAX_CACHE", str(tmp_path / "cache"))
  with pytest.raises(ConfigError, match="compiling onednn_matmul.cc failed(.|\n)*not a oneDNN"):
    onednn.build()
  assert list((tmp_path / "cache" / "kernels").iterdir()) == []  # no half-written library
