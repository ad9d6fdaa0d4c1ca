"""The jit-compiled train and eval steps: optimiser, train state, grad accumulation, bf16."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from seq2seq_jax.data.pipeline import Batch
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.kernels import onednn
from seq2seq_jax.tasks.base import LossFn


class TrainState(train_state.TrainState):
  """Params, optimiser state and step, plus the run's base rng (dropout = fold_in(rng, step))."""

  rng: jax.Array


def make_schedule(cfg) -> optax.ScalarOrSchedule:
  """train.schedule: the learning rate by optimiser update count (0 for the first update);
  a plain float for `constant`, so the optimiser state has no schedule count."""
  lr = cfg.learning_rate
  if cfg.schedule == "constant":
    return lr
  if cfg.schedule == "warmup_rsqrt":
    w = max(cfg.warmup_steps, 1)
    return lambda step: lr * jnp.minimum((step + 1) / w, jnp.sqrt(w / (step + 1.0)))
  if cfg.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, cfg.warmup_steps, cfg.decay_steps)
  raise ConfigError(
    f"unknown train.schedule {cfg.schedule!r}; use constant, warmup_rsqrt or warmup_cosine."
  )


def learning_rate(schedule: optax.ScalarOrSchedule, count: int) -> float:
  """The rate `schedule` (make_schedule's) gives the update of optimiser count `count`."""
  return float(schedule(count)) if callable(schedule) else float(schedule)


def make_optimizer(cfg) -> optax.GradientTransformation:
  """optax chain: clip -> [L2] -> optimiser, with the configured learning-rate schedule."""
  schedule = make_schedule(cfg)
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


def make_steps(
  loss_fn: LossFn, grad_accum_steps: int = 1, compute_dtype: str = "float32", matmul: str = "xla"
):
  """Returns jitted (train_step, eval_step); train_step donates the state.

  train_step(state, batch) -> (state, Sums, grad_norm): grad_norm is the global norm of the
  update's gradient before clipping (a device scalar); eval_step(params, batch) -> Sums.
  grad_accum_steps > 1: the batch's rows are split into that many equal micro-batches
  (row i goes to micro-batch i % grad_accum_steps, so each stays spread over the devices),
  run one after another in a `lax.scan`, and their gradients combined with the loss's own
  normaliser (`Sums.norm`): the update is the one step on the whole batch would make (up
  to rounding; dropout masks differ).
  compute_dtype="bfloat16": params and float inputs cast to bf16 inside the differentiated
  function (forward and backward in bf16), params, gradients and optimiser state in fp32.
  matmul="onednn": the Dense layers' matmuls and their gradients run in bf16 in oneDNN
  (kernels/onednn.py: the CPU's bf16 units, which XLA's CPU dots leave idle); with float32,
  the rest of the step stays fp32, as under torch.autocast.
  """
  if grad_accum_steps < 1:
    raise ConfigError(f"train.grad_accum_steps={grad_accum_steps} must be >= 1.")
  if compute_dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"unknown train.compute_dtype {compute_dtype!r}; use float32 or bfloat16.")
  dtype = jnp.dtype(compute_dtype)
  if matmul == "onednn" and jax.device_count() > 1:
    raise ConfigError(
      f"train.matmul=onednn is one device's kernel ({jax.device_count()} devices here, and "
      "its call has no sharding rule): run on one device or set --config.train.matmul=xla."
    )
  onednn.intercept(matmul)  # checks the name, builds and registers the kernel now, not mid-run

  def loss_and_sums(params, batch, rng, train, step):
    if dtype != jnp.float32:
      params, batch = _cast_floats(params, dtype), _cast_floats(batch, dtype)
    with onednn.intercept(matmul):  # one context per trace (a context manager is single-use)
      loss, sums = loss_fn(params, batch, rng, train, step)
    return loss.astype(jnp.float32), _cast_floats(sums, jnp.float32)

  def train_step(state: TrainState, batch: Batch):
    rng = jax.random.fold_in(state.rng, state.step)
    grad_fn = jax.value_and_grad(loss_and_sums, has_aux=True)
    if grad_accum_steps == 1:
      (_, sums), grads = grad_fn(state.params, batch, rng, True, state.step)
      return state.apply_gradients(grads=grads), sums, optax.global_norm(grads)

    a = grad_accum_steps
    micro = jax.tree.map(
      lambda x: x.reshape(x.shape[0] // a, a, *x.shape[1:]).swapaxes(0, 1), batch
    )

    def one(carry, xs):
      k, mb = xs
      (_, sums), grads = grad_fn(state.params, mb, jax.random.fold_in(rng, k), True, state.step)
      # the micro-batch's mean-loss gradient times its normaliser: its share of the sum
      acc_grads, acc_sums = carry
      acc_grads = jax.tree.map(lambda g, h: g + sums.norm * h, acc_grads, grads)
      return (acc_grads, acc_sums + sums), None

    first = jax.tree.map(lambda x: x[0], micro)
    sums_shape = jax.eval_shape(lambda: loss_and_sums(state.params, first, rng, True, 0)[1])
    zeros = lambda t: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), t)
    (grads, sums), _ = jax.lax.scan(
      one, (zeros(state.params), zeros(sums_shape)), (jnp.arange(a), micro)
    )
    grads = jax.tree.map(lambda g: g / jnp.maximum(sums.norm, 1e-9), grads)
    return state.apply_gradients(grads=grads), sums, optax.global_norm(grads)

  def eval_step(params, batch: Batch):
    return loss_and_sums(params, batch, jax.random.PRNGKey(0), False, 0)[1]

  return jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)
