"""One training loop for every task: jit-compiled steps, evaluation, checkpoints, metrics.

A task (translation, classification) supplies a `Task`: the model, bucketed
data, a loss over a batch and a final report. This file owns the rest:
optimiser, data parallelism, the epoch loop, progress output, best/latest
checkpoints with exact resume, metrics JSONL and the loss-curve plot.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from seq2seq_jax import plots
from seq2seq_jax.checkpoint import Checkpoints
from seq2seq_jax.data.pipeline import Batch, BucketedDataset
from seq2seq_jax.errors import ConfigError

log = logging.getLogger("seq2seq_jax")

# loss_fn(params, batch, dropout_rng, train) -> (scalar loss to minimise, dict of metric sums);
# the loss is a sum over the batch divided by sums["loss_norm"] if given, else sums["weight"].
LossFn = Callable[[Any, Batch, jax.Array, bool], tuple[jax.Array, dict[str, jax.Array]]]


class TrainState(train_state.TrainState):
  """Params, optimiser state and step, plus the run's base rng (dropout = fold_in(rng, step))."""

  rng: jax.Array


@dataclasses.dataclass
class Task:
  """What a task plugs into the loop.

  summarize: metric sums -> named values (e.g. loss, ppl, accuracy); must give "loss".
  report: (params, split) -> final metrics of that split (BLEU, samples, plots...).
  on_epoch_end: optional (params, epoch) -> None, e.g. print a few predictions.
  """

  model: Any
  init_args: tuple
  train_data: BucketedDataset
  eval_data: dict[str, BucketedDataset]
  loss_fn: LossFn
  summarize: Callable[[dict[str, float]], dict[str, float]]
  report: Callable[[Any, str], dict]
  on_epoch_end: Callable[[Any, int], None] | None = None


def make_optimizer(cfg) -> optax.GradientTransformation:
  """optax chain: clip -> [L2] -> optimiser, with the configured learning-rate schedule."""
  lr = cfg.learning_rate
  if cfg.schedule == "constant":
    schedule = lr
  elif cfg.schedule == "warmup_rsqrt":
    w = max(cfg.warmup_steps, 1)
    schedule = lambda step: lr * jnp.minimum((step + 1) / w, jnp.sqrt(w / (step + 1.0)))
  elif cfg.schedule == "warmup_cosine":
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, cfg.warmup_steps, cfg.decay_steps)
  else:
    raise ConfigError(
      f"unknown train.schedule {cfg.schedule!r}; use constant, warmup_rsqrt or warmup_cosine."
    )
  optimizers = {
    "adam": lambda: optax.adam(schedule, b1=cfg.b1, b2=cfg.b2, eps=1e-8),
    "sgd": lambda: optax.sgd(schedule, momentum=cfg.momentum or None),
    "adagrad": lambda: optax.adagrad(schedule, initial_accumulator_value=0.0, eps=1e-10),
  }
  if cfg.optimizer not in optimizers:
    raise ConfigError(
      f"unknown train.optimizer {cfg.optimizer!r}; use one of {', '.join(optimizers)}."
    )
  chain = []
  if cfg.clip:
    chain.append(optax.clip_by_global_norm(cfg.clip))
  if cfg.weight_decay:
    chain.append(optax.add_decayed_weights(cfg.weight_decay))  # L2 added to the gradient
  chain.append(optimizers[cfg.optimizer]())
  return optax.chain(*chain)


def create_state(model, init_args: tuple, config) -> TrainState:
  """Fresh state: params from `model.init(*init_args)`, rngs from `config.seed`."""
  key = jax.random.PRNGKey(config.seed)
  init_key, run_key = jax.random.split(key)
  params = jax.jit(lambda k: model.init({"params": k, "dropout": k}, *init_args))(init_key)
  state = TrainState.create(
    apply_fn=model.apply, params=params, tx=make_optimizer(config.train), rng=run_key
  )
  # A strongly typed step, so the first train_step's output matches its input
  # and jit does not compile a second time.
  return state.replace(step=jnp.zeros((), jnp.int32))


def _cast_floats(tree, dtype):
  """Floating leaves of `tree` as `dtype`; integer leaves (token ids, lengths) unchanged."""
  return jax.tree.map(
    lambda x: x.astype(dtype) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x, tree
  )


def make_steps(loss_fn: LossFn, grad_accum_steps: int = 1, compute_dtype: str = "float32"):
  """Returns jitted (train_step, eval_step); train_step donates the state.

  grad_accum_steps > 1: the batch's rows are split into that many equal micro-batches
  (row i goes to micro-batch i % grad_accum_steps, so each stays spread over the devices),
  run one after another in a `lax.scan`, and their gradients combined with the loss's own
  normaliser: the update is the one step on the whole batch would make (up to rounding;
  dropout masks differ). The loss's normaliser is `sums["loss_norm"]` when the loss
  function reports one (popped here, never in the metric sums), else `sums["weight"]`.
  compute_dtype="bfloat16": params and float inputs cast to bf16 inside the differentiated
  function (forward and backward in bf16), params, gradients and optimiser state in fp32.
  """
  if grad_accum_steps < 1:
    raise ConfigError(f"train.grad_accum_steps={grad_accum_steps} must be >= 1.")
  if compute_dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"unknown train.compute_dtype {compute_dtype!r}; use float32 or bfloat16.")
  dtype = jnp.dtype(compute_dtype)

  def loss_and_norm(params, batch, rng, train):
    if dtype != jnp.float32:
      params, batch = _cast_floats(params, dtype), _cast_floats(batch, dtype)
    loss, sums = loss_fn(params, batch, rng, train)
    sums = _cast_floats(sums, jnp.float32)
    norm = sums.pop("loss_norm", sums["weight"])
    return loss.astype(jnp.float32), (sums, norm)

  def train_step(state: TrainState, batch: Batch):
    rng = jax.random.fold_in(state.rng, state.step)
    grad_fn = jax.value_and_grad(loss_and_norm, has_aux=True)
    if grad_accum_steps == 1:
      step_batch = {**batch, "step": state.step}  # for schedules inside the loss (e.g. sampling)
      (_, (sums, _)), grads = grad_fn(state.params, step_batch, rng, True)
      return state.apply_gradients(grads=grads), sums

    a = grad_accum_steps
    micro = jax.tree.map(
      lambda x: x.reshape(x.shape[0] // a, a, *x.shape[1:]).swapaxes(0, 1), batch
    )

    def one(carry, xs):
      k, mb = xs
      (_, (sums, norm)), grads = grad_fn(
        state.params, {**mb, "step": state.step}, jax.random.fold_in(rng, k), True
      )
      # the micro-batch's mean-loss gradient times its normaliser: its share of the sum
      acc_grads, acc_sums, acc_norm = carry
      acc_grads = jax.tree.map(lambda g, h: g + norm * h, acc_grads, grads)
      return (acc_grads, jax.tree.map(jnp.add, acc_sums, sums), acc_norm + norm), None

    sums_shape = jax.eval_shape(
      lambda: loss_and_norm(
        state.params, {**jax.tree.map(lambda x: x[0], micro), "step": state.step}, rng, True
      )[1][0]
    )
    zeros = lambda t: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), t)
    init = (zeros(state.params), zeros(sums_shape), jnp.zeros((), jnp.float32))
    (grads, sums, norm), _ = jax.lax.scan(one, init, (jnp.arange(a), micro))
    grads = jax.tree.map(lambda g: g / jnp.maximum(norm, 1e-9), grads)
    return state.apply_gradients(grads=grads), sums

  def eval_step(params, batch: Batch):
    return loss_and_norm(params, batch, jax.random.PRNGKey(0), False)[1][0]

  return jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)


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
    local = lambda x: jax.make_array_from_process_local_data(shard, x, (batch_size, *x.shape[1:]))
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


def evaluate(eval_step, params, data: BucketedDataset, summarize, shard) -> dict[str, float]:
  """Summarised metric sums over `data`; each process collates only its own rows."""
  sums = None
  put = (
    batch_put(shard, data.batch_size)
    if jax.device_count() > 1
    else (lambda b: jax.device_put(b, shard))
  )
  for batch in data.batches(rows=host_rows(shard, data.batch_size)):
    out = eval_step(params, put(batch))
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  return summarize({k: float(v) for k, v in fetch(sums).items()})


def param_summary(params) -> str:
  rows = [
    f"{jax.tree_util.keystr(path)}  {tuple(x.shape)}"
    for path, x in jax.tree_util.tree_leaves_with_path(params)
  ]
  total = sum(x.size for x in jax.tree.leaves(params))
  return "\n".join(rows + [f"total parameters: {total:,}"])


class _Interrupt:
  """Turns SIGTERM/SIGINT into a flag checked between steps, so a stop saves first."""

  def __init__(self):
    self.requested = False
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not in the main thread
        pass
    return self

  def _handle(self, signum, frame):
    if self.requested:  # second Ctrl-C: give up at once
      raise KeyboardInterrupt
    self.requested = True
    log.warning("stop requested: saving a checkpoint after this step (Ctrl-C again to abort)")

  def __exit__(self, *exc):
    for sig, handler in self._old.items():
      signal.signal(sig, handler)


def _append_jsonl(path: Path, record: dict) -> None:
  if not is_main_process():
    return
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def train_and_evaluate(task: Task, config, workdir: str | Path) -> dict:
  """Trains `config.train.num_epochs` epochs (resuming from `workdir`), then reports test."""
  workdir = Path(workdir)
  batch_shard, replicated = data_sharding()
  if config.train.batch_size % jax.device_count():
    raise ConfigError(
      f"train.batch_size={config.train.batch_size} is not a multiple of the "
      f"{jax.device_count()} devices: change it so every device gets equal rows."
    )
  accum = config.train.get("grad_accum_steps", 1)
  if config.train.batch_size % (accum * jax.device_count()):
    raise ConfigError(
      f"train.batch_size={config.train.batch_size} is not a multiple of "
      f"train.grad_accum_steps={accum} x {jax.device_count()} devices: every "
      "micro-batch must give each device equal rows."
    )
  state = jax.device_put(create_state(task.model, task.init_args, config), replicated)
  if is_main_process():
    (workdir / "params.txt").write_text(param_summary(state.params) + "\n")
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log.info("model has %s trainable parameters", f"{n_params:,}")

  ckpts = Checkpoints(workdir)
  meta = {"best_valid_loss": float("inf"), "history": [], "epoch_sums": None}
  if ckpts.latest_step() is not None:
    state, meta = ckpts.restore("latest", state)
    state = jax.device_put(state, replicated)
    log.info("resuming from step %d in %s", int(state.step), ckpts.root)

  train_step, eval_step = make_steps(
    task.loss_fn, accum, config.train.get("compute_dtype", "float32")
  )
  steps_per_epoch = task.train_data.num_batches()
  stop_after = config.train.get("stop_after_steps", 0)
  ckpt_every = config.train.checkpoint_every_steps
  metrics_path = workdir / "metrics.jsonl"
  step = int(state.step)
  first_epoch, offset = divmod(step, steps_per_epoch)

  def save_latest(epoch_sums, epoch_seconds: float = 0.0):
    meta["epoch_sums"] = (
      None if epoch_sums is None else {k: float(v) for k, v in fetch(epoch_sums).items()}
    )
    meta["epoch_seconds"] = epoch_seconds  # a resumed epoch's time counts every process's part
    ckpts.save("latest", state, meta)

  put = batch_put(batch_shard, task.train_data.batch_size)
  rows = host_rows(batch_shard, task.train_data.batch_size)  # None: one process, every row

  def stopped():
    log.info("stopped at step %d; run the same command again to resume", step)
    ckpts.close()
    return {"stopped_at_step": step}

  with _Interrupt() as stop:
    last_epoch = first_epoch if meta.get("stopped_early") else config.train.num_epochs
    for epoch in range(first_epoch, last_epoch):
      t0 = time.time() - (meta.get("epoch_seconds", 0.0) if offset else 0.0)
      sums = meta["epoch_sums"] if offset else None
      sums = None if sums is None else {k: jnp.asarray(v) for k, v in sums.items()}
      bar = tqdm(
        task.train_data.batches(seed=config.seed, epoch=epoch, start=offset, rows=rows),
        total=steps_per_epoch,
        initial=offset,
        desc=f"epoch {epoch + 1}",
        leave=False,
        dynamic_ncols=True,
        mininterval=1.0,
      )
      stopping = False
      for batch in bar:
        state, out = train_step(state, put(batch))
        sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
        step += 1
        if step % config.train.log_every_steps == 0:
          shown = fetch({k: sums[k] for k in ("loss_sum", "weight")})
          bar.set_postfix(loss=f"{float(shown['loss_sum'] / shown['weight']):.3f}")
        stopping = bool(stop.requested or (stop_after and step >= stop_after))
        if stopping:
          break
        if ckpt_every and step % ckpt_every == 0:
          save_latest(sums, time.time() - t0)
      bar.close()
      if stopping and step % steps_per_epoch:  # mid-epoch: save the partial sums and stop
        save_latest(sums, time.time() - t0)
        return stopped()
      offset = 0
      train_m = task.summarize({k: float(v) for k, v in fetch(sums).items()})
      valid_m = evaluate(
        eval_step, state.params, task.eval_data["validation"], task.summarize, batch_shard
      )
      seconds = time.time() - t0
      record = {
        "epoch": epoch + 1,
        "step": step,
        "seconds": round(seconds, 2),
        **{f"train_{k}": v for k, v in train_m.items()},
        **{f"valid_{k}": v for k, v in valid_m.items()},
      }
      meta["history"].append(record)
      _append_jsonl(metrics_path, record)
      log.info(
        "Epoch: %02d | Time: %dm %02ds | step %d", epoch + 1, seconds // 60, seconds % 60, step
      )
      for name, m in (("Train", train_m), (" Val.", valid_m)):
        ppl = f" | {name} PPL: {m['ppl']:8.3f}" if "ppl" in m else ""  # the tutorial's lines
        log.info("\t%s Loss: %.3f%s", name, m["loss"], ppl)
      if task.on_epoch_end is not None:
        task.on_epoch_end(state.params, epoch + 1)
      if valid_m["loss"] < meta["best_valid_loss"]:
        meta["best_valid_loss"] = valid_m["loss"]
        meta["best_epoch"] = epoch + 1
        ckpts.save("best", state, meta)
      patience = config.train.get("early_stop_patience", 0)
      meta["stopped_early"] = bool(patience and epoch + 1 - meta["best_epoch"] >= patience)
      save_latest(None)
      if is_main_process():
        plots.loss_curves(
          {
            "train": [(r["epoch"], r["train_loss"]) for r in meta["history"]],
            "valid": [(r["epoch"], r["valid_loss"]) for r in meta["history"]],
          },
          workdir / "loss.png",
          title="loss per epoch",
        )
      if stopping:  # stopped on an epoch's last step: after its evaluation and checkpoints
        return stopped()
      if meta["stopped_early"]:
        log.info("early stop: no better valid loss for %d epochs", patience)
        break

  log.info(
    "best valid loss %.3f at epoch %s; evaluating that checkpoint",
    meta["best_valid_loss"],
    meta.get("best_epoch"),
  )
  best_state, _ = ckpts.restore("best", state)
  ckpts.close()
  result = evaluate_split(task, best_state.params, "test", eval_step, batch_shard)
  result.update(
    parameters=n_params,
    best_epoch=meta.get("best_epoch"),
    seconds_per_epoch=[r["seconds"] for r in meta["history"]],
  )
  _append_jsonl(metrics_path, {"split": "test", **result})
  return result


def evaluate_split(task: Task, params, split: str, eval_step=None, shard=None) -> dict:
  """Loss metrics of a split plus the task's own report (BLEU, accuracy, plots...)."""
  if eval_step is None:
    _, eval_step = make_steps(task.loss_fn)
    shard, replicated = data_sharding()
    params = jax.device_put(params, replicated)
  m = evaluate(eval_step, params, task.eval_data[split], task.summarize, shard)
  ppl = f" | {split} PPL {m['ppl']:.3f}" if "ppl" in m else ""
  log.info("%s loss %.3f%s", split, m["loss"], ppl)
  return {**m, **task.report(params, split)}


def restore_params(model, init_args: tuple, config, workdir: str | Path, which: str = "best"):
  """Params of the `which` checkpoint in workdir (for evaluate / translate modes)."""
  state = create_state(model, init_args, config)
  ckpts = Checkpoints(workdir)
  try:
    state, _ = ckpts.restore(which, state)
  finally:
    ckpts.close()
  return state.params
