"""bf16 matmuls through oneDNN (`train.matmul=onednn`), for CPUs whose bf16 units XLA leaves idle.

XLA's CPU backend (jaxlib 0.10.2) runs a bf16 dot no faster than its fp32 one, while
oneDNN's matmul primitive uses the CPU's AVX512-BF16 or AMX units (PyTorch's bf16 runs on
it). On a 2-core AMD EPYC with avx512_bf16, in one process: 2048^2 XLA fp32 211, XLA bf16
175, oneDNN bf16 424 GFLOP/s; the transformer's [1536, 256] x [256, 7704] head 139 / 123 /
414; its train step 563 ms fp32, 394 ms with this switch (`experiments/bf16/RESULTS.md`).

`intercept()` is a context manager under which every `nn.Dense` call is one jax.ffi call
into oneDNN in bf16: inputs [..., K] flattened to [M, K] and the kernel [K, N] cast to
bf16, out [..., N] (oneDNN accumulates in fp32) cast back to the layer's dtype; its VJP two
more oneDNN calls (dx = dy W^T, dW = x^T dy; the transposes are layout flags, not copies).
Everything else (attention's batched einsums, norms, softmax, the loss) stays XLA's, in the
step's compute dtype. Under train.compute_dtype=float32 this is what torch.autocast(cpu,
bfloat16) does: bf16 matmuls, fp32 for the rest (XLA's CPU elementwise ops in bf16 are
slower than in fp32, so this is the fast combination). `make_steps` enters it around the
loss when `train.matmul=onednn`.

The handler (onednn_matmul.cc) is compiled on first use with the system's C++ compiler
against jaxlib's FFI headers and oneDNN, found under $ONEDNN_ROOT, this Python's prefix or
/usr, and cached in $SEQ2SEQ_JAX_CACHE/kernels (default ~/.cache/seq2seq_jax/kernels).
requirements.txt installs oneDNN 3.2 into the prefix (PyPI's `onednn-devel-cpu-gomp`: headers,
and libdnnl.so with GNU OpenMP, on x86-64 Linux); Debian's `apt install libdnnl-dev` (2.6.3)
works too and ran within noise of it on the same CPU. PyPI's newer `onednn` 2026.1 wheel is a
SYCL build that pulls ~2 GB of Intel runtimes. `version()` says which oneDNN is in use.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.errors import ConfigError, UserError

SOURCE = Path(__file__).with_name("onednn_matmul.cc")
TARGETS = {
  jnp.dtype(jnp.bfloat16): "Seq2seqOnednnMatmulBf16",
  jnp.dtype(jnp.float32): "Seq2seqOnednnMatmulF32",
}
_HOW = (
  "install oneDNN (`pip install -r requirements.txt` has it: onednn-devel-cpu-gomp==2023.2.0; "
  "or `apt install libdnnl-dev`) and a C++ compiler (`apt install g++`), or point $ONEDNN_ROOT "
  "at a oneDNN build with include/ and lib/; or set "
  "--config.train.matmul=xla"
)


def find_onednn(roots: list[Path] | None = None) -> tuple[Path, Path]:
  """-> (include dir, lib dir) of the first oneDNN with headers and a shared library, in
  `roots` (default: $ONEDNN_ROOT, this Python's prefix, /usr, /usr/local)."""
  if roots is None:
    roots = [Path(os.environ["ONEDNN_ROOT"])] if os.environ.get("ONEDNN_ROOT") else []
    roots += [Path(sys.prefix), Path("/usr"), Path("/usr/local")]
  for root in roots:
    include = root / "include"
    if not (include / "oneapi" / "dnnl" / "dnnl.hpp").exists():
      continue
    for lib in (root / "lib", root / "lib64", root / "lib" / "x86_64-linux-gnu"):
      if any(lib.glob("libdnnl.so*")):
        return include, lib
  raise ConfigError(
    "train.matmul=onednn: no oneDNN found (headers oneapi/dnnl/dnnl.hpp and libdnnl.so under "
    f"{', '.join(map(str, roots))}): {_HOW}."
  )


def build() -> Path:
  """Compiles onednn_matmul.cc once per (source, jaxlib, oneDNN); -> the shared library."""
  include, lib = find_onednn()
  compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
  if not compiler:
    raise ConfigError(f"train.matmul=onednn needs a C++ compiler (none on PATH): {_HOW}.")
  key = hashlib.sha256(
    SOURCE.read_bytes() + f"{jax.__version__}|{include}|{lib}|{compiler}".encode()
  ).hexdigest()[:16]
  from seq2seq_jax.data.builders.base import default_cache_dir  # (imports tfds: only here)

  out = Path(default_cache_dir()) / "kernels" / f"onednn_matmul_{key}.so"
  if out.exists():
    return out
  out.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so.tmp")
  os.close(fd)
  cmd = [
    compiler, "-O2", "-shared", "-fPIC", "-std=c++17", "-w",
    f"-I{jax.ffi.include_dir()}", f"-I{include}", str(SOURCE), "-o", tmp,
    f"-L{lib}", "-ldnnl", f"-Wl,-rpath,{lib}",
  ]  # fmt: skip
  try:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
      raise ConfigError(
        f"train.matmul=onednn: compiling {SOURCE.name} failed ({' '.join(cmd)}):\n"
        f"{done.stderr.strip()[:1500]}\nFix the toolchain, or {_HOW.split('; or ')[-1]}."
      )
    os.replace(tmp, out)  # whole or not at all: a concurrent build renames the same bytes
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)
  return out


@functools.cache
def register() -> Path:
  """Builds (if needed) and loads the handlers, registers them with jax.ffi; -> the library."""
  if jax.default_backend() != "cpu":
    raise ConfigError(
      f"train.matmul=onednn is for CPUs; this run's backend is {jax.default_backend()}: "
      "set --config.train.matmul=xla."
    )
  path = build()
  try:
    library = ctypes.cdll.LoadLibrary(str(path))
  except OSError as e:
    raise ConfigError(f"train.matmul=onednn: cannot load {path}: {e}. {_HOW}.") from e
  for target in TARGETS.values():
    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, target)), "cpu")
  return path


def version() -> str:
  """The oneDNN the kernel runs on, e.g. "oneDNN 3.2.0", from its dnnl_version()."""

  class Version(ctypes.Structure):  # dnnl_version_t
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]

  library = ctypes.cdll.LoadLibrary(str(register()))  # dlsym looks in its libdnnl too
  library.dnnl_version.restype = ctypes.POINTER(Version)
  v = library.dnnl_version().contents
  return f"oneDNN {v.major}.{v.minor}.{v.patch}"


def problem() -> str | None:
  """None when train.matmul=onednn works here (kernel built and registered), else why not."""
  try:
    register()
  except UserError as e:
    return str(e).splitlines()[0]
  return None


def _call(a, b, trans_a: bool = False, trans_b: bool = False):
  """op(a) [M,K] @ op(b) [K,N] -> [M,N] in a's dtype (bf16 or f32), one oneDNN call."""
  register()  # at trace time, once: a bare matmul() needs no set-up of its own
  m = a.shape[1] if trans_a else a.shape[0]
  n = b.shape[0] if trans_b else b.shape[1]
  out = jax.ShapeDtypeStruct((m, n), a.dtype)
  return jax.ffi.ffi_call(TARGETS[jnp.dtype(a.dtype)], out)(a, b, trans_a=trans_a, trans_b=trans_b)


@jax.custom_vjp
def matmul(x, w):
  """x [M,K] @ w [K,N] -> [M,N] (same dtype, bf16 or f32), forward and VJP in oneDNN."""
  return _call(x, w)


def _matmul_fwd(x, w):
  return _call(x, w), (x, w)


def _matmul_bwd(res, dy):
  x, w = res
  dy = dy.astype(x.dtype)
  return _call(dy, w, trans_b=True), _call(x, dy, trans_a=True)  # dy W^T, x^T dy


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def _dense(next_fun, args, kwargs, context):
  """An nn.intercept_methods interceptor: a bf16 nn.Dense's __call__ as oneDNN's matmul."""
  module = context.module
  if not (isinstance(module, nn.Dense) and context.method_name == "__call__"):
    return next_fun(*args, **kwargs)
  (x,) = args
  kernel = module.get_variable("params", "kernel")
  if kernel is None or module.dtype or not jnp.issubdtype(x.dtype, jnp.floating):
    return next_fun(*args, **kwargs)  # init, or a Dense with its own dtype: XLA's
  dtype = jnp.result_type(x, kernel)  # what nn.Dense would compute in (and return)
  bf16 = lambda a: a.astype(jnp.bfloat16)
  y = matmul(bf16(x.reshape(-1, x.shape[-1])), bf16(kernel)).astype(dtype)
  y = y.reshape(*x.shape[:-1], kernel.shape[-1])
  if module.use_bias:
    y = y + module.get_variable("params", "bias").astype(dtype)
  return y


def intercept(kind: str):
  """The context the loss runs in: oneDNN's bf16 Dense for kind "onednn", nothing for "xla"."""
  if kind == "xla":
    return contextlib.nullcontext()
  if kind != "onednn":
    raise ConfigError(f"unknown train.matmul {kind!r}; use xla or onednn.")
  register()
  return nn.intercept_methods(_dense)
