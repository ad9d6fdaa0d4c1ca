"""Numerics parity with the PyTorch references: same weights -> max abs differences.

Each entry of `CASES` builds a Flax model and its PyTorch reference, copies the
PyTorch weights into Flax with `torch_import`, runs both on a padded batch in
eval mode and in train mode with dropout 0 (fp32, matmuls at full precision),
and returns the max abs difference of the outputs (real positions only) and of
the loss's parameter gradients. tests/test_parity_*.py assert OUTPUT_TOL and
GRAD_TOL; experiments/parity/print_parity_table.py prints the table.

Adding a model family: a reference in torch_models.py (transformer) or
torch_rnn_models.py (RNN translators, classifier), a mapping in
torch_import.MAPPINGS and a case function here, registered in CASES.
Imports torch (like torch_models): use it only where PyTorch is installed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
import torch
import torch.nn.functional as F

from seq2seq_jax.interop import torch_models, torch_rnn_models
from seq2seq_jax.interop.torch_import import (
  TRANSFORMER,
  ParamMapping,
  abstract_variables,
  import_state_dict,
)
from seq2seq_jax.models.transformer import Transformer, TransformerConfig

OUTPUT_TOL = 1e-5
GRAD_TOL = 1e-4
MODES = ("eval", "train")  # train: dropout 0


@dataclasses.dataclass(frozen=True)
class Diffs:
  """Max abs differences, Flax vs PyTorch, in one mode."""

  outputs: float
  grads: float

  @property
  def ok(self) -> bool:
    return self.outputs <= OUTPUT_TOL and self.grads <= GRAD_TOL


def max_abs_diff(a: dict, b: dict) -> float:
  """Max |a - b| over the leaves of two pytrees of the same structure."""
  diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
  return max(jax.tree.leaves(diffs))


def grads_as_flax(module: torch.nn.Module, mapping: ParamMapping, target) -> dict:
  """The .grad of every torch parameter, mapped onto the Flax tree (layouts included)."""
  grads = {k: p.grad for k, p in module.named_parameters()}
  return import_state_dict(grads, mapping, target)


def set_dropout(module: torch.nn.Module, p: float) -> None:
  """Every nn.Dropout's p, and the between-layer dropout of multi-layer nn.RNN/GRU/LSTMs."""
  for m in module.modules():
    if isinstance(m, torch.nn.Dropout):
      m.p = p
    elif isinstance(m, torch.nn.RNNBase) and m.num_layers > 1:
      m.dropout = p


def randomize_norms(module: torch.nn.Module) -> None:
  """LayerNorms start as ones/zeros, which would hide a swapped norm: make them distinct."""
  with torch.no_grad():
    for m in module.modules():
      if isinstance(m, torch.nn.LayerNorm):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)


def padded_ids(
  rng: np.random.Generator,
  lengths: list[int],
  width: int,
  vocab: int,
  pad: int,
  first: int | None = None,
) -> np.ndarray:
  """[B, width] random ids in [4, vocab) (no specials), `pad` after each row's length."""
  ids = rng.integers(4, vocab, (len(lengths), width)).astype(np.int32)
  if first is not None:
    ids[:, 0] = first
  ids[np.arange(width)[None, :] >= np.asarray(lengths)[:, None]] = pad
  return ids


def translation_batch(
  rng: np.random.Generator,
  src_len,
  tgt_len,
  src_vocab: int,
  tgt_vocab: int,
  pad: int,
  bos: int,
  width: int = 8,
) -> dict:
  """A padded batch of random ids: src [B,width], tgt_in = <sos> y and tgt_out = y shifted
  by one, both [B,width-1], `pad` after each row's length."""
  src_len, tgt_len = np.asarray(src_len, np.int32), np.asarray(tgt_len, np.int32)
  src = padded_ids(rng, src_len, width, src_vocab, pad)
  tgt = padded_ids(rng, tgt_len + 1, width, tgt_vocab, pad, first=bos)  # <sos> y, pads
  real = np.arange(width - 1)[None, :] < tgt_len[:, None]  # [B,T] real target positions
  return dict(
    src=src,
    src_len=src_len,
    tgt_in=np.where(real, tgt[:, :-1], pad),
    tgt_out=tgt[:, 1:],
    tgt_len=tgt_len,
  )


# The tutorial's torchtext specials.
UNK, PAD, BOS, EOS = 0, 1, 2, 3


def tiny_transformer_config(**switches) -> TransformerConfig:
  kw = dict(
    src_vocab_size=23,
    tgt_vocab_size=19,
    hid=32,
    enc_layers=2,
    dec_layers=2,
    heads=4,
    ff=64,
    dropout=0.1,
    max_len=16,
  )
  return TransformerConfig(**{**kw, **switches})


def transformer_parity(cfg: TransformerConfig, seed: int = 0) -> dict[str, Diffs]:
  """Logits, cross attention and loss; gradients of the tutorial's loss
  (CrossEntropyLoss(ignore_index=pad) = translation's masked token mean)."""
  from seq2seq_jax.tasks.translation import make_loss_fn

  torch.manual_seed(seed)
  ref = torch_models.build_transformer(cfg, PAD, PAD)
  randomize_norms(ref)
  rng = np.random.default_rng(seed)
  batch = translation_batch(
    rng, [8, 5, 2], [7, 3, 5], cfg.src_vocab_size, cfg.tgt_vocab_size, PAD, BOS
  )
  src, src_len = batch["src"], batch["src_len"]
  real = np.arange(batch["tgt_in"].shape[1])[None, :] < batch["tgt_len"][:, None]  # [B,T]

  results = {}
  for mode in MODES:
    train = mode == "train"
    mcfg = dataclasses.replace(cfg, dropout=0.0) if train else cfg
    model = Transformer(mcfg)
    target = abstract_variables(model, src[:1], src_len[:1], batch["tgt_in"][:1])
    variables = import_state_dict(ref.state_dict(), TRANSFORMER, target)

    set_dropout(ref, 0.0 if train else cfg.dropout)
    ref.train(train)
    ref.zero_grad()
    logits_t, attention_t = ref(
      torch.from_numpy(src).long(), torch.from_numpy(batch["tgt_in"]).long()
    )
    loss_t = F.cross_entropy(
      logits_t.reshape(-1, cfg.tgt_vocab_size),
      torch.from_numpy(batch["tgt_out"]).long().reshape(-1),
      ignore_index=PAD,
    )
    loss_t.backward()

    loss_fn = make_loss_fn(model, label_smoothing=0.0)
    with jax.default_matmul_precision("highest"):
      logits, attention = model.apply(
        variables, src, src_len, batch["tgt_in"], train, rngs={"dropout": jax.random.key(seed)}
      )
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables, batch, jax.random.key(seed), train
      )
    outputs = max_abs_diff(
      dict(
        logits=np.asarray(logits)[real],
        attention=np.asarray(attention).transpose(0, 2, 1, 3)[real],
        loss=np.asarray(loss),
      ),
      dict(
        logits=logits_t.detach().numpy()[real],
        attention=attention_t.detach().numpy().transpose(0, 2, 1, 3)[real],
        loss=loss_t.detach().numpy(),
      ),
    )
    results[mode] = Diffs(outputs, max_abs_diff(grads, grads_as_flax(ref, TRANSFORMER, target)))
  return results


def rnn_batch(seed: int, features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """x [3,6,F] (pads hold noise too), lengths [3] = (6, 3, 1), mask [3,6]."""
  rng = np.random.default_rng(seed)
  lengths = np.array([6, 3, 1])
  x = rng.normal(size=(3, 6, features)).astype(np.float32)
  return x, lengths, np.arange(6)[None, :] < lengths[:, None]


def weighted_sum(arrays, seed: int):
  """sum_i <arrays[i], R_i> with fixed random R_i: a loss that reaches every output."""
  rng = np.random.default_rng(seed + 1)
  weights = [rng.normal(size=a.shape).astype(np.float32) for a in arrays]
  return sum(
    (a * (torch.from_numpy(w) if isinstance(a, torch.Tensor) else w)).sum()
    for a, w in zip(arrays, weights)
  )


def rnn_layer_parity(
  kind: str, num_layers: int = 1, bidirectional: bool = False, seed: int = 0
) -> dict[str, Diffs]:
  """models/rnn.RNN vs torch.nn.RNN / GRU / LSTM on a padded batch (packed in torch).

  Outputs: every position (both give zeros at pads) and the final states, ordered like
  h_n (l0, l0_reverse, l1, ...); loss: a fixed random weighted sum of all of them.
  """
  from seq2seq_jax.interop.torch_import import RNN_LAYERS
  from seq2seq_jax.models.rnn import RNN

  torch.manual_seed(seed)
  features, hidden, dropout = 3, 4, 0.1 if num_layers > 1 else 0.0
  layer_cls = {"srn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
  ref = layer_cls(
    features,
    hidden,
    num_layers=num_layers,
    bidirectional=bidirectional,
    batch_first=True,
    dropout=dropout,
  )
  x, lengths, mask = rnn_batch(seed, features)
  results = {}
  for mode in MODES:
    train = mode == "train"
    model = RNN(
      kind=kind,
      hidden=hidden,
      num_layers=num_layers,
      bidirectional=bidirectional,
      dropout=0.0 if train else dropout,
    )
    variables = import_state_dict(ref.state_dict(), RNN_LAYERS, abstract_variables(model, x, mask))

    ref.dropout = 0.0 if train else dropout
    ref.train(train)
    ref.zero_grad()
    packed = torch.nn.utils.rnn.pack_padded_sequence(
      torch.from_numpy(x), torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    out_t, finals_t = ref(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True, total_length=6)
    finals_t = list(finals_t) if kind == "lstm" else [finals_t]  # [h_n] or [h_n, c_n]
    loss_t = weighted_sum([out_t, *finals_t], seed)
    loss_t.backward()

    def forward(v, model=model, train=train):
      out, finals = model.apply(v, x, mask, None, train, rngs={"dropout": jax.random.key(seed)})
      parts = list(zip(*finals)) if kind == "lstm" else [finals]  # per layer -> per h / c
      states = [jax.numpy.stack(p) for p in parts]  # like h_n (, c_n): [layers*dirs, B, H]
      return weighted_sum([out, *states], seed), (out, states)

    with jax.default_matmul_precision("highest"):
      (loss, (out, states)), grads = jax.jit(jax.value_and_grad(forward, has_aux=True))(variables)
    outputs = max_abs_diff(
      dict(out=np.asarray(out), states=[np.asarray(s) for s in states], loss=np.asarray(loss)),
      dict(
        out=out_t.detach().numpy(),
        states=[s.detach().numpy() for s in finals_t],
        loss=loss_t.detach().numpy(),
      ),
    )
    results[mode] = Diffs(outputs, max_abs_diff(grads, grads_as_flax(ref, RNN_LAYERS, variables)))
  return results


def rnn_cell_parity(kind: str, seed: int = 0) -> dict[str, Diffs]:
  """models/rnn.py's cell, stepped over a padded batch, vs torch.nn.RNNCell / GRUCell /
  LSTMCell stepped over each example's own length (the tutorials' loop)."""
  from seq2seq_jax.interop.torch_import import RNN_LAYERS
  from seq2seq_jax.models.rnn import CELLS

  torch.manual_seed(seed)
  features, hidden = 3, 4
  cell_cls = {"srn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[kind]
  ref = cell_cls(features, hidden)
  x, lengths, mask = rnn_batch(seed, features)
  cell = CELLS[kind](hidden=hidden)
  carry0 = cell.initial_carry(x.shape[0])
  variables = import_state_dict(
    ref.state_dict(), RNN_LAYERS, abstract_variables(cell, carry0, (x[:, 0], mask[:, 0]))
  )

  ref.zero_grad()
  outs_t, finals_t = torch.zeros(3, 6, hidden), []
  for b, n in enumerate(lengths):
    state = None
    for t in range(n):
      state = ref(torch.from_numpy(x[b : b + 1, t]), state)
      outs_t[b, t] = (state[0] if kind == "lstm" else state)[0]
    finals_t.append(torch.cat(state, -1) if kind == "lstm" else state)
  finals_t = torch.cat(finals_t)  # [B, H] (LSTM: [B, 2H] = h, c)
  loss_t = weighted_sum([outs_t, finals_t], seed)
  loss_t.backward()

  def forward(v):
    carry, outs = carry0, []
    for t in range(x.shape[1]):
      carry, y = cell.apply(v, carry, (x[:, t], mask[:, t]))
      outs.append(y)
    final = jax.numpy.concatenate(carry, -1) if kind == "lstm" else carry
    out = jax.numpy.stack(outs, 1)
    return weighted_sum([out, final], seed), (out, final)

  with jax.default_matmul_precision("highest"):
    (loss, (out, final)), grads = jax.value_and_grad(forward, has_aux=True)(variables)
  diffs = Diffs(
    max_abs_diff(
      dict(out=np.asarray(out), final=np.asarray(final), loss=np.asarray(loss)),
      dict(
        out=outs_t.detach().numpy(), final=finals_t.detach().numpy(), loss=loss_t.detach().numpy()
      ),
    ),
    max_abs_diff(grads, grads_as_flax(ref, RNN_LAYERS, variables)),
  )
  return {mode: diffs for mode in MODES}  # a cell has no dropout: one computation


def tiny_rnn_seq2seq_config(**switches):
  """A small models/rnn_seq2seq.py config (embed != hidden, max_length > the batch width)."""
  from seq2seq_jax.models.rnn_seq2seq import RNNSeq2SeqConfig

  kw = dict(
    src_vocab_size=13,
    tgt_vocab_size=11,
    embed=5,
    hidden=6,
    cell="gru",
    attention="fixed",
    fixed_slots="all",
    max_length=9,
    bridge="copy",
    dropout=0.1,
    teacher_forcing=1.0,
  )
  return RNNSeq2SeqConfig(**{**kw, **switches})


def _torch_translator_outputs(ref, cfg, src, src_len, tgt_in, tgt_len):
  """The reference run one sentence at a time (the tutorials' way): per example log-probs
  [T_b,V] and attention [T_b,S_b]; the loss = summed NLL / target tokens."""
  logps, attns = [], []
  for b in range(len(src)):
    s, t = src[b, : src_len[b]].tolist(), tgt_in[b, : tgt_len[b]].tolist()
    if isinstance(ref, torch_rnn_models.Seq2Seq):  # the char toy: one-hot in, logits out
      eye = torch.eye(cfg.src_vocab_size)
      logits = ref(eye[s][None], torch.zeros(1, 1, cfg.hidden), eye[t][None])[:, 0]
      logp, attn = F.log_softmax(logits, -1), torch.zeros(len(t), len(s))
    else:
      logp, attn = ref(s, t)
    logps.append(logp)
    attns.append(attn)
  return logps, attns


def rnn_seq2seq_parity(cfg, seed: int = 0) -> dict[str, Diffs]:
  """models/rnn_seq2seq.py vs torch_rnn_models (the tutorials' per-sentence loops) on a
  padded batch: log-probs and attention on real positions, and translation's token-mean
  loss; gradients of that loss."""
  from seq2seq_jax.interop.torch_import import rnn_seq2seq_mapping
  from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq
  from seq2seq_jax.tasks.translation import make_loss_fn

  torch.manual_seed(seed)
  ref = torch_rnn_models.build_translator(cfg)
  mapping = rnn_seq2seq_mapping(dataclasses.asdict(cfg))
  rng = np.random.default_rng(seed)
  batch = translation_batch(
    rng, [7, 4, 2], [6, 3, 5], cfg.src_vocab_size, cfg.tgt_vocab_size, EOS, BOS
  )
  batch["step"] = np.int32(0)
  src, src_len, tgt_len = batch["src"], batch["src_len"], batch["tgt_len"]
  results = {}
  for mode in MODES:
    train = mode == "train"
    mcfg = dataclasses.replace(cfg, dropout=0.0, enc_dropout=0.0) if train else cfg
    model = RNNSeq2Seq(mcfg)
    target = abstract_variables(model, src[:1], src_len[:1], batch["tgt_in"][:1])
    variables = import_state_dict(ref.state_dict(), mapping, target)

    set_dropout(ref, 0.0 if train else cfg.dropout)
    ref.train(train)
    ref.zero_grad()
    logps_t, attns_t = _torch_translator_outputs(ref, cfg, src, src_len, batch["tgt_in"], tgt_len)
    loss_t = sum(
      -lp.gather(1, torch.from_numpy(batch["tgt_out"][b, : tgt_len[b]]).long()[:, None]).sum()
      for b, lp in enumerate(logps_t)
    ) / float(tgt_len.sum())
    loss_t.backward()

    loss_fn = make_loss_fn(model, label_smoothing=0.0)

    @jax.jit
    def forward(v, model=model, loss_fn=loss_fn, train=train):
      logits, attention = model.apply(
        v, src, src_len, batch["tgt_in"], train, rngs={"dropout": jax.random.key(seed)}
      )
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        v, batch, jax.random.key(seed), train
      )
      return jax.nn.log_softmax(logits), attention, loss, grads

    with jax.default_matmul_precision("highest"):
      logp, attention, loss, grads = forward(variables)
    logp = np.asarray(logp)
    attention = np.asarray(attention)
    ours = dict(
      loss=np.asarray(loss),
      logp=[logp[b, : tgt_len[b]] for b in range(3)],
      attention=[attention[b, : tgt_len[b], : src_len[b]] for b in range(3)],
    )
    theirs = dict(
      loss=loss_t.detach().numpy(),
      logp=[lp.detach().numpy() for lp in logps_t],
      attention=[a.detach().numpy() for a in attns_t],
    )
    results[mode] = Diffs(
      max_abs_diff(ours, theirs), max_abs_diff(grads, grads_as_flax(ref, mapping, target))
    )
  return results


def classifier_parity(cell: str, seed: int = 0, **switches) -> dict[str, Diffs]:
  """models/classifier.py vs torch_rnn_models.RNN run name by name (the tutorial's loop):
  log-probs and classification's loss (mean NLL); its gradients. Names of 6, 3, 1 letters."""
  from seq2seq_jax.interop.torch_import import CHAR_RNN
  from seq2seq_jax.models.classifier import CharClassifier
  from seq2seq_jax.tasks.classification import make_loss_fn

  kw = dict(
    num_classes=5,
    num_letters=57,
    cell=cell,
    hidden=6,
    num_layers=1,
    bidirectional=False,
    input="onehot",
    embed_dim=4,
    dropout=0.1,
  )
  kw.update(switches)
  torch.manual_seed(seed)
  ref = torch_rnn_models.RNN(
    57,
    kw["hidden"],
    kw["num_classes"],
    cell=cell,
    num_layers=kw["num_layers"],
    bidirectional=kw["bidirectional"],
    embed_size=kw["embed_dim"] if kw["input"] == "embed" else 0,
    dropout=kw["dropout"],
  )
  rng = np.random.default_rng(seed)
  lengths = np.array([6, 3, 1], np.int32)
  chars = rng.integers(1, 58, (3, 8)).astype(np.int32)
  chars[np.arange(8)[None, :] >= lengths[:, None]] = 0
  batch = dict(
    chars=chars,
    length=lengths,
    label=np.array([4, 0, 2], np.int32),
    index=np.arange(3, dtype=np.int32),
  )
  results = {}
  for mode in MODES:
    train = mode == "train"
    model = CharClassifier(**{**kw, "dropout": 0.0 if train else kw["dropout"]})
    variables = import_state_dict(
      ref.state_dict(), CHAR_RNN, abstract_variables(model, chars[:1], lengths[:1])
    )
    set_dropout(ref, 0.0 if train else kw["dropout"])
    ref.train(train)
    ref.zero_grad()
    logps_t = []
    for b in range(3):
      ids = torch.from_numpy(chars[b, : lengths[b]]).long()
      name = ids if kw["input"] == "embed" else torch.eye(57)[ids - 1][:, None]
      logps_t.append(F.log_softmax(ref.classify(name), -1)[0])
    logps_t = torch.stack(logps_t)
    loss_t = F.nll_loss(logps_t, torch.from_numpy(batch["label"]).long())
    loss_t.backward()

    loss_fn = make_loss_fn(model, 0.0, np.ones(kw["num_classes"], np.float32))

    @jax.jit
    def forward(v, model=model, loss_fn=loss_fn, train=train):
      logp = model.apply(v, chars, lengths, train, rngs={"dropout": jax.random.key(0)})
      (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        v, batch, jax.random.key(seed), train
      )
      return logp, loss, grads

    with jax.default_matmul_precision("highest"):
      logp, loss, grads = forward(variables)
    results[mode] = Diffs(
      max_abs_diff(
        dict(logp=np.asarray(logp), loss=np.asarray(loss)),
        dict(logp=logps_t.detach().numpy(), loss=loss_t.detach().numpy()),
      ),
      max_abs_diff(grads, grads_as_flax(ref, CHAR_RNN, variables)),
    )
  return results


# name -> () -> {mode: Diffs}.
CASES: dict[str, Callable[[], dict[str, Diffs]]] = {
  "transformer (tutorial: shared LN, post-LN)": lambda: transformer_parity(
    tiny_transformer_config()
  ),
  "transformer (separate LNs)": lambda: transformer_parity(
    tiny_transformer_config(shared_layer_norm=False)
  ),
  "transformer (pre-LN, separate LNs)": lambda: transformer_parity(
    tiny_transformer_config(norm="pre", shared_layer_norm=False)
  ),
  "transformer (sinusoidal positions)": lambda: transformer_parity(
    tiny_transformer_config(positions="sinusoidal")
  ),
  "layer: nn.RNNCell (SRN)": lambda: rnn_cell_parity("srn"),
  "layer: nn.GRUCell": lambda: rnn_cell_parity("gru"),
  "layer: nn.LSTMCell": lambda: rnn_cell_parity("lstm"),
  "layer: nn.RNN (2 layers)": lambda: rnn_layer_parity("srn", num_layers=2),
  "layer: nn.GRU (2 layers, bidirectional)": lambda: rnn_layer_parity(
    "gru", num_layers=2, bidirectional=True
  ),
  "layer: nn.LSTM (2 layers, bidirectional)": lambda: rnn_layer_parity(
    "lstm", num_layers=2, bidirectional=True
  ),
  "rnn: tutorial GRU + attention (AttnDecoderRNN, fixed_slots=all)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config()
  ),
  "rnn: tutorial plain decoder (DecoderRNN)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(attention="none", dropout=0.0)
  ),
  "rnn: bi-GRU + additive attention, tanh bridge (book)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(bidirectional=True, attention="additive", bridge="tanh", max_length=0)
  ),
  "rnn: char toy Seq2Seq (nn.RNN, one-hot)": lambda: rnn_seq2seq_parity(
    tiny_rnn_seq2seq_config(src_vocab_size=11, embed=0, cell="srn", attention="none", dropout=0.0)
  ),
  "classifier: tutorial i2h/i2o cell": lambda: classifier_parity("tutorial", dropout=0.0),
  "classifier: GRU (one-hot)": lambda: classifier_parity("gru"),
  "classifier: LSTM (one-hot)": lambda: classifier_parity("lstm"),
  "classifier: bi-GRU (2 layers, embeddings)": lambda: classifier_parity(
    "gru", num_layers=2, bidirectional=True, input="embed"
  ),
}
