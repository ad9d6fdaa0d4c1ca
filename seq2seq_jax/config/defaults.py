"""The `train` and `decode` blocks every config shares, with their defaults, documented once.

A config file passes only what its recipe changes:

  c.train = train_config(num_epochs=8, batch_size=1, optimizer="sgd", learning_rate=0.01)
  c.decode = decode_config(max_len=10)

so every key exists in every config (`--config.train.label_smoothing=0.1` works on all of
them) and a misspelt override is refused here instead of silently doing nothing. Keys
that only one task reads (the classifier's `train.sampling`, ...) are set by its config.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from seq2seq_jax.errors import ConfigError

TRAIN: dict[str, Any] = dict(
  num_epochs=10,  # passes over the training data
  batch_size=64,
  max_tokens=0,  # >0 (translation): rows per batch = max_tokens // its length (not batch_size)
  eval_batch_size=128,
  optimizer="adam",  # adam | sgd | adagrad
  learning_rate=5e-4,
  b1=0.9,  # adam
  b2=0.999,  # adam
  momentum=0.0,  # sgd (0: plain SGD)
  weight_decay=0.0,  # L2 regularisation, added to the gradient
  schedule="constant",  # constant | warmup_rsqrt | warmup_cosine
  warmup_steps=0,
  decay_steps=0,  # warmup_cosine: steps to decay over
  clip=1.0,  # gradient global-norm clipping (0: off)
  label_smoothing=0.0,
  loss_reduction="token",  # translation: token (mean over tokens) | sequence (sum per pair)
  log_every_steps=50,  # a step record (lr, grad norm, loss, speed) in metrics.jsonl; bar loss
  checkpoint_every_steps=0,  # 0: at the end of each epoch only
  stop_after_steps=0,  # >0: save and stop there (run the same command again to resume)
  early_stop_patience=0,  # >0: stop after this many epochs without a better select_by value
  select_by="loss",  # the best checkpoint: loss (valid, lowest) | bleu (valid greedy, highest)
  keep_checkpoints=0,  # >0: keep the params of the last N epochs; their mean is `averaged`
  tensorboard=False,  # also write the records as TensorBoard events in <workdir>/tensorboard/
  grad_accum_steps=1,  # >1: batch_size split into this many micro-batches, one update
  compute_dtype="float32",  # float32 | bfloat16 (forward/backward; params and optimiser fp32)
  matmul="xla",  # xla | onednn: Dense matmuls in bf16 through oneDNN (kernels/onednn.py; CPU)
  # transformer, >0: the output head and loss fused in chunks of ~N target positions, the
  # [tokens, V] logits never whole (kernels/head_loss.py): a memory saver, not a speed-up
  fused_head_rows=0,
)

DECODE: dict[str, Any] = dict(
  max_len=50,  # generated tokens, <eos> included
  beam_size=4,  # translate mode
  nbest=4,  # translate mode: hypotheses printed per sentence
  length_penalty=0.0,  # GNMT alpha (0: rank by summed log-probability)
  eval_beam_sizes=(4,),  # test report: greedy plus these beams
  num_samples=5,  # test report: example translations logged
  show_eos=False,  # print the final <eos> (the PaddlePaddle chapter does)
  attention_sentences=(),  # test report: an attention heat map (PNG) for each
  epoch_samples=0,  # >0: print greedy translations of that many validation pairs each epoch
  test_src="",  # --mode=evaluate: a parallel test set's source file (--test_src wins) ...
  test_ref="",  # ... and its references, line for line (--test_ref)
  test_name="",  # its name in files and metrics.jsonl ("": test_src's name before a dot)
  checkpoint="best",  # what evaluate / translate restore: best | averaged | latest
)


def block(
  defaults: dict[str, Any], overrides: dict[str, Any], what: str, source: str, of: str = ""
) -> ml_collections.ConfigDict:
  """ConfigDict of `defaults` with `overrides`; an override that is not a key of `defaults`
  is a ConfigError naming it, the `what` block (`of` what) and the `source` of its keys."""
  unknown = sorted(set(overrides) - set(defaults))
  if unknown:
    raise ConfigError(
      f"unknown {what} key(s) {', '.join(unknown)}{of}; known: {', '.join(defaults)} ({source})."
    )
  return ml_collections.ConfigDict({**defaults, **overrides})


def train_config(**overrides) -> ml_collections.ConfigDict:
  """The `train` block: TRAIN with `overrides`."""
  return block(TRAIN, overrides, "train", "seq2seq_jax/config/defaults.py")


def decode_config(**overrides) -> ml_collections.ConfigDict:
  """The `decode` block (translation): DECODE with `overrides`."""
  return block(DECODE, overrides, "decode", "seq2seq_jax/config/defaults.py")


def check_arg(arg: str, args: tuple[str, ...]) -> None:
  """A config file's argument (`--config=configs/x.py:<arg>`) must be one of its ARGS."""
  if arg not in args:
    raise ConfigError(f"unknown config argument {arg!r}: use {', '.join(args[:-1])} or {args[-1]}")


def run_config(
  task: str, seed: int, arg: str | None = None, args: tuple[str, ...] = ()
) -> ml_collections.ConfigDict:
  """A config's top level: the task (cli.TASKS) and the seed of params, dropout and data
  order; the config file adds the blocks. A file that takes an argument passes it with its
  ARGS, and an unknown one is refused (`check_arg`)."""
  if args:
    check_arg(arg, args)
  return ml_collections.ConfigDict({"task": task, "seed": seed})
