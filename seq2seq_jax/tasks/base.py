"""What every task shares: the `Task` it hands the training loop, the metric sums its loss
returns, the masked cross-entropy, and one way to run a model over a whole dataset.

The loop knows nothing task-specific: a task says what its loss sums (`Sums`), how the
sums read as metrics (`summarize`), how an epoch's line looks (`epoch_line`), what its
`Sums.weight` counts (`units`), which validation metrics besides the loss's it can compute
for `train.select_by` (`valid_metrics`) and what it reports on a split at the end
(`report`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from seq2seq_jax.data.packing import PackedDataset
from seq2seq_jax.data.pipeline import Batch, BucketedDataset
from seq2seq_jax.kernels.head_loss import head_cross_entropy, xent_logits_grad, xent_terms

log = logging.getLogger("seq2seq_jax")


@struct.dataclass
class Sums:
  """A batch's metric sums: they add over batches, devices and micro-batches.

  loss: summed NLL of the real units (target tokens, labels), never label-smoothed;
  weight: how many real units; norm: the minimised loss's normaliser (tokens, sequences,
  class-weighted examples: what gradient accumulation weights micro-batches by);
  counts: the task's own counts, e.g. {"correct": ...}.
  """

  loss: jax.Array
  weight: jax.Array
  norm: jax.Array
  counts: dict[str, jax.Array]

  def __add__(self, other: Sums) -> Sums:
    return jax.tree.map(jnp.add, self, other)

  def to_dict(self) -> dict[str, Any]:
    """As plain floats (checkpoint meta)."""
    return jax.tree.map(float, dataclasses.asdict(self))

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> Sums:
    return jax.tree.map(jnp.asarray, cls(**d))

  def mean_loss(self) -> float:
    return self.loss / max(self.weight, 1.0)


# loss_fn(params, batch, dropout_rng, train, step) -> (scalar loss to minimise, Sums);
# `step` is the training step (schedules inside a model, e.g. scheduled sampling).
LossFn = Callable[..., tuple[jax.Array, Sums]]


def smoothed(nll: jax.Array, logp: jax.Array, label_smoothing: float) -> jax.Array:
  """Label-smoothed NLL: (1 - s) nll + s * mean over classes of -logp. nll [...],
  logp [..., V] -> [...]; `label_smoothing=0` gives nll itself."""
  if not label_smoothing:
    return nll
  return (1 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def softmax_cross_entropy(logits, targets, label_smoothing: float = 0.0):
  """Token cross entropy of logits [..., V] (any float dtype, computed in fp32) against
  integer targets [...] -> (loss, nll, correct), each [...] float32.

  loss: the (label-smoothed) NLL that training minimises, (1 - s) nll + s * mean over
  classes of -log p; nll: -log p(target), never smoothed; correct: 1.0 where no class
  scores above the target (a tie counts as correct, as the classifier's rank 0 does).

  Its VJP is one fused pass over the logits, dz = g (softmax - (1 - s) onehot - s / V),
  with the softmax recomputed from the saved log-sum-exp: autodiff of log_softmax +
  take_along_axis instead keeps exp(z - max), zero-fills a [..., V] gradient and scatters
  into it, four more passes over what is the transformer's largest tensor ([B, T, 7704]).
  """
  return xent_terms(logits.astype(jnp.float32), targets, label_smoothing)[:3]


def _xent_fwd(logits, targets, label_smoothing):
  *out, lse = xent_terms(logits.astype(jnp.float32), targets, label_smoothing)
  return tuple(out), (logits, targets, lse)


def _xent_bwd(label_smoothing, res, cotangents):
  logits, targets, lse = res
  g_loss, g_nll, _ = cotangents  # `correct` is piecewise constant: no gradient
  z = logits.astype(jnp.float32)
  dz = xent_logits_grad(z, lse, targets, g_loss, g_nll, label_smoothing)
  return dz.astype(logits.dtype), None


softmax_cross_entropy.defvjp(_xent_fwd, _xent_bwd)


def _token_mask(
  targets: jax.Array, lengths: jax.Array | None, segments: jax.Array | None, reduction: str
) -> tuple[jax.Array, jax.Array]:
  """-> (mask [B,T] of the real target positions, the minimised loss's normaliser)."""
  if segments is None:
    mask = (jnp.arange(targets.shape[1])[None] < lengths[:, None]).astype(jnp.float32)
    sequences = (lengths > 0).sum()
  else:
    mask = (segments > 0).astype(jnp.float32)
    sequences = segments.max(axis=1).sum()  # segments are numbered 1..k in each row
  return mask, mask.sum() if reduction == "token" else sequences.astype(jnp.float32)


def sequence_loss(
  logits: jax.Array,
  targets: jax.Array,
  lengths: jax.Array | None,
  *,
  label_smoothing: float = 0.0,
  reduction: str = "token",
  segments: jax.Array | None = None,
) -> tuple[jax.Array, Sums]:
  """Masked token cross-entropy of logits [B,T,V] against targets [B,T] on the first
  lengths [B] positions (or, in a packed batch, where segments [B,T] > 0: segment ids
  1, 2, ... per sequence, 0 padding; lengths then unused), and its sums (counts:
  `correct` tokens, those whose target no class outscores: `softmax_cross_entropy`).

  The minimised loss is the (smoothed) NLL's mean over the batch's tokens
  (`reduction="token"`) or each sequence's sum averaged over the sequences ("sequence":
  the seq2seq tutorial's SGD step on one pair's summed loss; a packed row counts each of
  its segments).
  """
  mask, count = _token_mask(targets, lengths, segments, reduction)
  per_tok, nll, correct = softmax_cross_entropy(logits, targets, float(label_smoothing))
  counts = {"correct": (correct * mask).sum()}
  sums = Sums(loss=(nll * mask).sum(), weight=mask.sum(), norm=count, counts=counts)
  return (per_tok * mask).sum() / jnp.maximum(count, 1.0), sums


def head_sequence_loss(
  features: jax.Array,
  head: tuple[jax.Array, jax.Array],
  targets: jax.Array,
  lengths: jax.Array | None,
  *,
  label_smoothing: float = 0.0,
  reduction: str = "token",
  segments: jax.Array | None = None,
  chunk_rows: int = 384,
) -> tuple[jax.Array, Sums]:
  """`sequence_loss` of the logits features [B,T,H] @ kernel [H,V] + bias [V], head =
  (kernel, bias), fused with the head in chunks of about `chunk_rows` positions
  (`kernels/head_loss.py`: the [B,T,V] logits never exist whole). Same values and
  gradients, up to summation order."""
  mask, count = _token_mask(targets, lengths, segments, reduction)
  loss, nll, correct = head_cross_entropy(
    features,
    *head,
    targets,
    mask / jnp.maximum(count, 1.0),
    mask,
    label_smoothing=label_smoothing,
    chunk_rows=chunk_rows,
  )
  sums = Sums(loss=nll, weight=mask.sum(), norm=count, counts={"correct": correct})
  return loss, sums


def percent(sums: Sums, count: str = "correct") -> float:
  """counts[count] as a percentage of the real units."""
  return 100.0 * sums.counts[count] / max(sums.weight, 1.0)


def init_inputs(config, targets: bool = False) -> tuple[jax.Array, ...]:
  """Dummy inputs that `model.init` traces once: ids [1,E] and lengths [1] at the first
  bucket edge E (and target ids [1,E] for the translators); their values do not matter."""
  edge = config.data.bucket_edges[0]
  ids = jnp.ones((1, edge), jnp.int32)
  return (ids, jnp.full((1,), edge, jnp.int32)) + ((ids,) if targets else ())


def loss_line(name: str, m: dict[str, float]) -> str:
  """An epoch's line for a split: `Train Loss: 1.234`."""
  return f"\t{name} Loss: {m['loss']:.3f}"


def loss_ppl_line(name: str, m: dict[str, float]) -> str:
  """The transformer tutorial's line: `Train Loss: 1.234 | Train PPL:    3.435`."""
  return f"{loss_line(name, m)} | {name} PPL: {m['ppl']:8.3f}"


def map_dataset(data: BucketedDataset, fn: Callable[[Batch], Sequence[Any]]) -> list[Any]:
  """fn(batch) -> one result per row, over every batch of `data`, back in dataset order
  (rows scattered by batch["index"]; padding rows, index -1, dropped)."""
  out: list[Any] = [None] * len(data.examples)
  for batch in data.batches():
    rows = fn(batch)
    for row, i in enumerate(batch["index"]):
      if i >= 0:
        out[i] = rows[row]
  return out


@dataclasses.dataclass
class Task:
  """What a task plugs into the loop.

  summarize: Sums (floats) -> named values (loss, ppl, accuracy, ...); must give "loss".
  report: (params, split) -> final metrics of that split (BLEU, samples, plots...).
  epoch_line: (split title, metrics) -> the line printed for it after each epoch.
  units: what `Sums.weight` counts (tokens, examples): names the step records'
    `<units>_per_second`.
  padded: optional batch -> its padded positions of those units (translation: the target
    array's size), so the records give `real_share` = Sums.weight / padded positions.
  valid_metrics: optional params -> validation metrics the loss does not give (translation:
    {"bleu": greedy BLEU}); run at each epoch's end when `train.select_by` names one of
    them, and written to the epoch record as `valid_<name>`.
  on_epoch_end: optional (params, epoch) -> None, e.g. print a few predictions.
  """

  model: Any
  init_args: tuple
  train_data: BucketedDataset | PackedDataset
  eval_data: dict[str, BucketedDataset]
  loss_fn: LossFn
  summarize: Callable[[Sums], dict[str, float]]
  report: Callable[[Any, str], dict]
  epoch_line: Callable[[str, dict[str, float]], str] = loss_line
  units: str = "tokens"
  padded: Callable[[Batch], int] | None = None
  valid_metrics: Callable[[Any], dict[str, float]] | None = None
  on_epoch_end: Callable[[Any, int], None] | None = None

  @classmethod
  def of(cls, model, init_args: tuple, datasets: dict[str, BucketedDataset], **kw) -> Task:
    """The task over `datasets`: "train" and the evaluation splits (validation, test)."""
    evals = {k: v for k, v in datasets.items() if k != "train"}
    return cls(
      model=model, init_args=init_args, train_data=datasets["train"], eval_data=evals, **kw
    )
