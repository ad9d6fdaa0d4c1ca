"""The recurrent layers' parity cases: models/rnn.py's RNN and cells vs torch.nn.RNN / GRU /
LSTM (packed padded batches) and RNNCell / GRUCell / LSTMCell (each example's own length)."""

from __future__ import annotations

import jax
import numpy as np
import torch

from seq2seq_jax.interop.parity.common import (
  MODES,
  Diffs,
  compare,
  imported,
  prepare,
  rnn_batch,
  weighted_sum,
)
from seq2seq_jax.interop.torch_import import RNN_LAYERS


def rnn_layer_parity(
  kind: str, num_layers: int = 1, bidirectional: bool = False, seed: int = 0
) -> dict[str, Diffs]:
  """models/rnn.RNN vs torch.nn.RNN / GRU / LSTM on a padded batch (packed in torch).

  Outputs: every position (both give zeros at pads) and the final states, ordered like
  h_n (l0, l0_reverse, l1, ...); loss: a fixed random weighted sum of all of them.
  """
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
    _, variables = imported(ref, RNN_LAYERS, model, x, mask)
    prepare(ref, train, dropout)
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
    ours = dict(out=np.asarray(out), states=[np.asarray(s) for s in states], loss=np.asarray(loss))
    theirs = dict(
      out=out_t.detach().numpy(),
      states=[s.detach().numpy() for s in finals_t],
      loss=loss_t.detach().numpy(),
    )
    results[mode] = compare(ours, theirs, grads, ref, RNN_LAYERS, variables)
  return results


def rnn_cell_parity(kind: str, seed: int = 0) -> dict[str, Diffs]:
  """models/rnn.py's cell, stepped over a padded batch, vs torch.nn.RNNCell / GRUCell /
  LSTMCell stepped over each example's own length (the tutorials' loop)."""
  from seq2seq_jax.models.rnn import CELLS

  torch.manual_seed(seed)
  features, hidden = 3, 4
  cell_cls = {"srn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[kind]
  ref = cell_cls(features, hidden)
  x, lengths, mask = rnn_batch(seed, features)
  cell = CELLS[kind](hidden=hidden)
  carry0 = cell.initial_carry(x.shape[0])
  _, variables = imported(ref, RNN_LAYERS, cell, carry0, (x[:, 0], mask[:, 0]))

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
  diffs = compare(
    dict(out=np.asarray(out), final=np.asarray(final), loss=np.asarray(loss)),
    dict(
      out=outs_t.detach().numpy(), final=finals_t.detach().numpy(), loss=loss_t.detach().numpy()
    ),
    grads,
    ref,
    RNN_LAYERS,
    variables,
  )
  return {mode: diffs for mode in MODES}  # a cell has no dropout: one computation
