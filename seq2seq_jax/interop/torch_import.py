"""PyTorch state_dicts <-> Flax params, through a declarative name mapping per model family.

A `ParamMapping` turns every Flax parameter path, e.g.
  encoder/layers_0/self_attention/fc_q/kernel
into the PyTorch key and layout of the same tensor,
  encoder.layers.0.self_attention.fc_q.weight   (transposed: Dense kernels are [in, out])
by a few regex `rewrites` of the path, then the first matching `Rule`. Importing
walks the Flax model's own parameters, so every key and every shape is checked,
and the first missing, mis-shaped or unexpected key is named in a
`CheckpointError`. Exporting is the same table read the other way.

Adding a model family is one more table in `MAPPINGS` (keyed by config.model.name).
Nothing here imports torch, except `load_state_dict` reading a `.pt` file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import traverse_util

from seq2seq_jax.errors import CheckpointError, UserError

StateDict = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Rule:
  """`flax` (regex, full match on the rewritten path) -> `torch` (its expand template).

  '/' left in the result become '.'; `transpose` reverses the axes (Dense kernel
  [in, out] <-> torch Linear / RNN weight [out, in]).
  """

  flax: str
  torch: str
  transpose: bool = False


# torch.nn.Linear, Embedding and LayerNorm leaves, under any module path.
COMMON_LEAVES = (
  Rule(r"(.+)/kernel", r"\1/weight", transpose=True),  # nn.Dense -> nn.Linear
  Rule(r"(.+)/(?:scale|embedding)", r"\1/weight"),  # nn.LayerNorm, nn.Embed
  Rule(r"(.+)/bias", r"\1/bias"),
)


@dataclasses.dataclass(frozen=True)
class ParamMapping:
  """Name mapping of one model family: path rewrites (re.sub, in order), then rules."""

  family: str
  rules: tuple[Rule, ...]
  rewrites: tuple[tuple[str, str], ...] = ()

  def torch_key(self, flax_path: str) -> tuple[str, bool]:
    """'a/b/kernel' -> ('a.b.weight', transpose)."""
    path = flax_path
    for pattern, repl in self.rewrites:
      path = re.sub(pattern, repl, path)
    for rule in self.rules:
      m = re.fullmatch(rule.flax, path)
      if m:
        return m.expand(rule.torch).replace("/", "."), rule.transpose
    raise CheckpointError(
      f"no {self.family} mapping rule for the Flax parameter {flax_path!r}: "
      "add one to interop/torch_import.py."
    )


TRANSFORMER = ParamMapping(
  "transformer",
  COMMON_LEAVES,
  rewrites=(
    (r"/embed/", "/"),  # the Flax Embedder module is inlined in torch's Encoder
    (r"layers_(\d+)", r"layers/\1"),
  ),
)

# models/rnn.py's cells, l{k}[_reverse]/{ih,hh}/{kernel,bias}, as torch.nn.RNN / GRU / LSTM
# parameters (weight_ih_l0, bias_hh_l1_reverse, ...), or a single torch.nn.RNNCell /
# GRUCell / LSTMCell's (weight_ih, bias_hh). Gate orders already agree (r,z,n; i,f,g,o).
RNN_LEAVES = (
  Rule(r"((?:.+/)?)l(\d+)(_reverse)?/(ih|hh)/kernel", r"\1weight_\4_l\2\3", transpose=True),
  Rule(r"((?:.+/)?)l(\d+)(_reverse)?/(ih|hh)/bias", r"\1bias_\4_l\2\3"),
  Rule(r"((?:.+/)?)(ih|hh)/kernel", r"\1weight_\2", transpose=True),
  Rule(r"((?:.+/)?)(ih|hh)/bias", r"\1bias_\2"),
)

# A models/rnn.py RNN stack or cell on its own <-> the torch.nn layer.
RNN_LAYERS = ParamMapping("recurrent layer", RNN_LEAVES + COMMON_LEAVES)


def rnn_seq2seq_mapping(model_cfg: Mapping[str, Any] | None = None) -> ParamMapping:
  """models/rnn_seq2seq.py <-> interop/torch_rnn_models.py, for a `config.model`
  (path rewrites run in order).

  With embeddings (the tutorial's EncoderRNN / DecoderRNN / AttnDecoderRNN, the bi-GRU
  book model): src_embed -> encoder.embedding, encoder/l0 -> encoder.gru.*_l0 (the layer
  is named by the cell: gru | lstm | rnn), dec_l{k} -> decoder.gru.*_l{k}, tgt_embed ->
  decoder.embedding, attention/attn -> decoder.attn, attention/w_q -> decoder.attention.w_q,
  attn_combine / combine / out -> decoder.*, bridge_l0 -> decoder.boot. One-hot inputs
  (embed 0, the char toy's Seq2Seq): encoder.*_l0 and decoder.*_l0 are the nn.RNNs
  themselves, out -> fc.
  """
  cfg = dict(model_cfg or {})
  layer = {"srn": "rnn", "gru": "gru", "lstm": "lstm"}.get(cfg.get("cell", "gru"), "gru")
  if cfg.get("embed", 1):
    rewrites = (
      (r"^encoder/", f"encoder/{layer}/"),
      (r"^src_embed/", "encoder/embedding/"),
      (r"^tgt_embed/", "decoder/embedding/"),
      (r"^dec_(l\d+)/", f"decoder/{layer}/\\1/"),
    )
  else:
    rewrites = ((r"^dec_(l\d+)/", r"decoder/\1/"), (r"^out/", "fc/"))
  rewrites += (
    (r"^bridge_l0/", "decoder/boot/"),
    (r"^bridge_(l\d+)/", r"decoder/boot_\1/"),
    (r"^attention/attn/", "decoder/attn/"),
    (r"^attention/", "decoder/attention/"),
    (r"^(attn_combine|combine|out)/", r"decoder/\1/"),
  )
  kind = "tutorial EncoderRNN / decoder" if cfg.get("embed", 1) else "char toy Seq2Seq"
  return ParamMapping(f"RNN seq2seq ({kind})", RNN_LEAVES + COMMON_LEAVES, rewrites)


# models/classifier.CharClassifier <-> torch_classifier.RNN: the tutorial's rnn/i2h, rnn/i2o
# -> i2h, i2o; embed -> embedding; rnn/l{k}[_reverse] -> rnn.*_l{k}[_reverse]; out -> h2o.
CHAR_RNN = ParamMapping(
  "char-RNN classifier",
  RNN_LEAVES + COMMON_LEAVES,
  rewrites=((r"^rnn/(i2[ho])/", r"\1/"), (r"^embed/", "embedding/"), (r"^out/", "h2o/")),
)

# config.model.name -> mapping, or a function of config.model giving it (the RNN seq2seq
# names depend on the cell and on embeddings vs one-hot inputs).
MAPPINGS: dict[str, ParamMapping | Any] = {
  "transformer": TRANSFORMER,
  "rnn": rnn_seq2seq_mapping,
  "char_rnn": CHAR_RNN,
}


def mapping_for(model: str | Mapping[str, Any]) -> ParamMapping:
  """The mapping for `config.model` (or a model name: then the family's defaults)."""
  name = model if isinstance(model, str) else model.get("name")
  if name not in MAPPINGS:
    raise UserError(
      f"no PyTorch import for model {name!r} yet; supported: {', '.join(sorted(MAPPINGS))}."
    )
  entry = MAPPINGS[name]
  return (
    entry if isinstance(entry, ParamMapping) else entry(None if isinstance(model, str) else model)
  )


def _shape(shape) -> str:
  return "(" + ", ".join(str(d) for d in shape) + ")"


def _strip_module_prefix(sd: Mapping[str, Any]) -> dict[str, Any]:
  """Keys saved from nn.DataParallel / DistributedDataParallel start with 'module.'."""
  if sd and all(k.startswith("module.") for k in sd):
    return {k[len("module.") :]: v for k, v in sd.items()}
  return dict(sd)


def _to_numpy(value) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch.Tensor (bfloat16 has no numpy dtype: go via float32)
    value = value.detach().cpu()
    value = value.float() if value.is_floating_point() else value
    return value.numpy()
  return np.asarray(value)


def load_state_dict(source: str | Path | Mapping[str, Any]) -> StateDict:
  """A `.pt` file (torch.save(model.state_dict())), a `.npz`, or a mapping -> {key: ndarray}.

  A checkpoint dict wrapping the state_dict under 'state_dict' / 'model_state_dict' /
  'model' is unwrapped; a 'module.' prefix (DataParallel) is stripped.
  """
  if not isinstance(source, Mapping):
    path = Path(source)
    if not path.is_file():
      raise CheckpointError(f"state_dict file {path} does not exist.")
    if path.suffix == ".npz":
      with np.load(path) as npz:
        source = dict(npz)
    else:
      source = _torch_load(path)
  for wrapper in ("state_dict", "model_state_dict", "model"):
    if isinstance(source.get(wrapper), Mapping):
      source = source[wrapper]
      break
  return {k: _to_numpy(v) for k, v in _strip_module_prefix(source).items()}


def join_state_dicts(**parts: str | Path | Mapping[str, Any]) -> StateDict:
  """Several state_dicts -> one, each key prefixed by its part's name: e.g. the seq2seq
  tutorial's two files, join_state_dicts(encoder="encoder.pt", decoder="decoder.pt")."""
  return {
    f"{name}.{k}": v for name, source in parts.items() for k, v in load_state_dict(source).items()
  }


def _torch_load(path: Path) -> Mapping[str, Any]:
  try:
    import torch
  except ImportError:
    raise UserError(
      f"reading {path} needs PyTorch: `pip install torch==2.13.0` (CPU build), "
      "or save the state_dict as .npz (numpy.savez)."
    ) from None
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pickled modules, truncated files, not a torch file at all
    raise CheckpointError(
      f"{path} cannot be read as a PyTorch state_dict ({type(e).__name__}: "
      f"{str(e).splitlines()[0][:200] if str(e) else ''}). Save it with "
      "`torch.save(model.state_dict(), path)`."
    ) from e
  if not isinstance(obj, Mapping):
    raise CheckpointError(
      f"{path} holds a {type(obj).__name__}, not a state_dict: save it with "
      "`torch.save(model.state_dict(), path)`."
    )
  return obj


def import_state_dict(
  source: str | Path | Mapping[str, Any], mapping: ParamMapping, target: Mapping[str, Any]
) -> dict[str, Any]:
  """state_dict -> Flax variables {"params": ...} with the structure of `target`.

  `target` is the model's variables (arrays or jax.ShapeDtypeStructs, e.g. from
  `abstract_variables`). Every Flax parameter must find its key with the right
  shape, and every key must be used; otherwise a CheckpointError names the first
  missing, mis-shaped and unexpected key.
  """
  sd = load_state_dict(source)
  flat = traverse_util.flatten_dict(dict(target["params"]), sep="/")
  expected = {}  # torch key -> (Flax path, transpose, Flax leaf)
  for path, leaf in flat.items():
    key, transpose = mapping.torch_key(path)
    if key in expected:
      raise CheckpointError(
        f"{mapping.family} mapping sends both {expected[key][0]} and {path} "
        f"to {key!r}: fix its rules in interop/torch_import.py."
      )
    expected[key] = (path, transpose, leaf)
  out, bad_shape = {}, []
  for key, value in sd.items():  # in the state_dict's (module) order
    if key not in expected:
      continue
    path, transpose, leaf = expected[key]
    if transpose:
      value = value.T
    if value.shape != tuple(leaf.shape):
      want = tuple(reversed(leaf.shape)) if transpose else tuple(leaf.shape)
      bad_shape.append(
        f"{key!r} has shape {_shape(sd[key].shape)}, the model needs {_shape(want)} (Flax {path})"
      )
      continue
    out[path] = np.asarray(value, dtype=leaf.dtype)
  missing = [
    f"{k!r} (for Flax {p}, shape {_shape(leaf.shape)})"
    for k, (p, _, leaf) in expected.items()
    if k not in sd
  ]
  unexpected = [repr(k) for k in sd if k not in expected]
  problems = [(missing, "missing key"), (bad_shape, "wrong shape:"), (unexpected, "unexpected key")]
  if any(found for found, _ in problems):
    parts = [
      f"{what} {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
      for found, what in problems
      if found
    ]
    raise CheckpointError(
      f"the state_dict does not fit the {mapping.family} model built from the config: "
      + "; ".join(parts)
      + ". Check that the config's model sizes and switches match the "
      "PyTorch model's."
    )
  return {"params": traverse_util.unflatten_dict(out, sep="/")}


def export_state_dict(variables: Mapping[str, Any], mapping: ParamMapping) -> StateDict:
  """Flax variables -> {torch key: ndarray in torch layout} (load with torch.from_numpy)."""
  flat = traverse_util.flatten_dict(dict(variables["params"]), sep="/")
  out = {}
  for path, value in flat.items():
    key, transpose = mapping.torch_key(path)
    value = np.asarray(value)
    out[key] = value.T if transpose else value
  return out


def abstract_variables(model, *init_args) -> dict[str, Any]:
  """The model's variables as shapes only (jax.eval_shape of model.init): no compute."""
  import jax

  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(0)}
  return jax.eval_shape(lambda: model.init(rngs, *init_args))
