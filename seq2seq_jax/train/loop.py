"""One training loop for every task: the epoch loop, evaluation, checkpoints, metrics.

A task (translation, classification, tagging) supplies a `tasks.base.Task`: the model,
bucketed data, a loss over a batch and a final report. This file owns the rest: the
epoch loop, progress output, best/latest (and kept epochs') checkpoints with exact resume,
the step and epoch records (records.py: metrics.jsonl, TensorBoard) and the loss-curve
plot; the jitted steps are in steps.py, data parallelism in sharding.py, checkpoint
averaging in average.py.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

from seq2seq_jax import plots
from seq2seq_jax.data.pipeline import BucketedDataset
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.rundir import load_config
from seq2seq_jax.tasks.base import Sums, Task
from seq2seq_jax.train import average
from seq2seq_jax.train.checkpoint import Checkpoints, Meta
from seq2seq_jax.train.guard import Interrupt, check_loss, check_state
from seq2seq_jax.train.records import Records, kind
from seq2seq_jax.train.sharding import batch_put, data_sharding, fetch, host_rows, is_main_process
from seq2seq_jax.train.steps import create_state, learning_rate, make_schedule, make_steps

log = logging.getLogger("seq2seq_jax")


def evaluate(eval_step, params, data: BucketedDataset, summarize, shard) -> dict[str, float]:
  """`summarize` of the metric sums over `data`; each process collates only its own rows."""
  sums = None
  put = (
    batch_put(shard, data.batch_size)
    if jax.device_count() > 1
    else (lambda b: jax.device_put(b, shard))
  )
  for batch in data.batches(rows=host_rows(shard, data.batch_size)):
    out = eval_step(params, put(batch))
    sums = out if sums is None else sums + out
  return summarize(jax.tree.map(float, fetch(sums)))


def param_summary(params) -> str:
  rows = [
    f"{jax.tree_util.keystr(path)}  {tuple(x.shape)}"
    for path, x in jax.tree_util.tree_leaves_with_path(params)
  ]
  total = sum(x.size for x in jax.tree.leaves(params))
  return "\n".join(rows + [f"total parameters: {total:,}"])


def append_metrics(workdir: str | Path, record: dict) -> None:
  """Appends `record` as one line of the run's metrics.jsonl (an evaluation after training;
  a later training start rewrites the file from its checkpoint's history)."""
  with Records(Path(workdir)) as records:
    records.add(record, step=record.get("step", 0))


_add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))  # one dispatch per step

# train.select_by -> whether a higher validation value is the better one
HIGHER_IS_BETTER = {"loss": False, "bleu": True}


@dataclasses.dataclass
class StepWindow:
  """The train steps since the last step record: their summed Sums and gradient norms
  (device values, added without a host sync), how many, their batches' padded positions
  (`Task.padded`, host counts; 0: the task has none) and since when (wall clock)."""

  sums: Sums | None = None
  grad_norm: jax.Array | float = 0.0
  steps: int = 0
  padded: int = 0
  t0: float = dataclasses.field(default_factory=lambda: time.time())

  def add(self, sums: Sums, grad_norm: jax.Array, padded: int = 0) -> None:
    new = (sums, grad_norm)
    self.sums, self.grad_norm = new if self.sums is None else _add((self.sums, self.grad_norm), new)
    self.steps += 1
    self.padded += padded

  def record(self, step: int, lr: float, units: str) -> dict:
    """The step record (one fetch of the window's sums), over `step - steps + 1 .. step`."""
    sums, grad_norm = jax.tree.map(float, fetch((self.sums, self.grad_norm)))
    seconds = max(time.time() - self.t0, 1e-9)
    return {
      "step": step,
      "lr": lr,
      "grad_norm": grad_norm / self.steps,
      "loss": sums.mean_loss(),
      f"{units}_per_second": sums.weight / seconds,
      "steps_per_second": self.steps / seconds,
      **({"real_share": sums.weight / self.padded} if self.padded else {}),
    }

  def to_dict(self) -> dict | None:
    if self.sums is None:
      return None
    sums, grad_norm = fetch((self.sums, self.grad_norm))
    return {
      "sums": sums.to_dict(),
      "grad_norm": float(grad_norm),
      "steps": self.steps,
      "padded": self.padded,
    }

  @classmethod
  def from_dict(cls, d: dict | None) -> StepWindow:
    if not d:
      return cls()
    sums, grad_norm = Sums.from_dict(d["sums"]), jnp.asarray(d["grad_norm"])
    return cls(sums, grad_norm, d["steps"], d.get("padded", 0))


def train_and_evaluate(
  task: Task, config, workdir: str | Path, init_from: str | Path | None = None
) -> dict:
  """Trains `config.train.num_epochs` epochs (resuming from `workdir`), then reports test.

  Returns the test report, or {"stopped_at_step": N} when it stopped early with a checkpoint
  (train.stop_after_steps), with "interrupted": True when a signal asked it to. A run killed
  anywhere resumes from its latest checkpoint to the same result: metrics.jsonl (and the
  TensorBoard events) are rewritten from that checkpoint's history on every start, so no
  step or epoch line is written twice.
  init_from: a run whose best params start this one (fresh optimiser state, step 0, no
  best-so-far), used only while `workdir` has no checkpoint, so a rerun resumes.
  """
  workdir = Path(workdir)
  t = config.train
  with (
    Checkpoints(workdir, keep_epochs=t.keep_checkpoints) as ckpts,
    Interrupt() as stop,
    Records(workdir, tensorboard=t.tensorboard) as records,
  ):
    return _train(task, config, workdir, ckpts, stop, records, init_from)


def _train(
  task: Task, config, workdir: Path, ckpts: Checkpoints, stop: Interrupt, records, init_from
) -> dict:
  batch_shard, replicated = data_sharding()
  batch_size = task.train_data.batch_size  # train.batch_size, or train.max_tokens' rows
  if batch_size % jax.device_count():
    raise ConfigError(
      f"train.batch_size={batch_size} is not a multiple of the "
      f"{jax.device_count()} devices: change it so every device gets equal rows."
    )
  accum = config.train.grad_accum_steps
  if batch_size % (accum * jax.device_count()):
    raise ConfigError(
      f"train.batch_size={batch_size} is not a multiple of "
      f"train.grad_accum_steps={accum} x {jax.device_count()} devices: every "
      "micro-batch must give each device equal rows."
    )
  select = config.train.select_by
  if select != "loss" and task.valid_metrics is None:
    raise ConfigError(
      f"train.select_by={select!r} needs a task that computes validation {select} "
      "(translation: bleu); use train.select_by=loss."
    )
  higher = HIGHER_IS_BETTER[select]
  state = jax.device_put(create_state(task.model, task.init_args, config), replicated)
  if is_main_process():
    (workdir / "params.txt").write_text(param_summary(state.params) + "\n")
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log.info("model has %s trainable parameters", f"{n_params:,}")

  meta = Meta()
  if ckpts.latest_step() is not None:
    state, meta = ckpts.restore("latest", state)
    state = jax.device_put(state, replicated)
    log.info("resuming from step %d in %s", int(state.step), ckpts.root)
    if init_from is not None:
      log.info("--init_from=%s ignored: %s already holds checkpoints", init_from, workdir)
  elif init_from is not None:
    source = load_config(Path(init_from))  # its optimiser state's structure, for the restore
    params = restore_params(task.model, task.init_args, source, init_from)
    state = jax.device_put(state.replace(params=params), replicated)
    log.info("starting from the best params of %s (fresh optimiser)", init_from)

  train_step, eval_step = make_steps(
    task.loss_fn, accum, config.train.compute_dtype, config.train.matmul
  )
  schedule = make_schedule(config.train)
  steps_per_epoch = task.train_data.num_batches()
  stop_after = config.train.stop_after_steps
  ckpt_every = config.train.checkpoint_every_steps
  log_every = config.train.log_every_steps
  records.reset(meta.history)  # drops lines written after that checkpoint
  step = int(state.step)
  first_epoch, offset = divmod(step, steps_per_epoch)
  window = StepWindow.from_dict(meta.log_window)

  def save(
    which: str, epoch_sums=None, epoch_seconds: float = 0.0, epoch_padded: int = 0, data_state=None
  ):
    """Saves `which` after checking that nothing in it is NaN or infinite; `data_state`:
    the streamed training data's position (mid-epoch)."""
    if epoch_sums is not None:
      epoch_sums = fetch(epoch_sums)
      check_loss(epoch_sums.loss, step, ckpts.latest_step())
    check_state(state, step, ckpts.latest_step())
    if which == "latest":
      meta.epoch_sums = None if epoch_sums is None else epoch_sums.to_dict()
      meta.epoch_seconds = epoch_seconds  # a resumed epoch's time counts every process's part
      meta.epoch_padded = epoch_padded
      meta.log_window = window.to_dict()
      meta.data_state = data_state
    ckpts.save(which, state, meta)

  put = batch_put(batch_shard, batch_size)
  rows = host_rows(batch_shard, batch_size)  # None: one process, every row
  # a batch's padded positions of the loss's units, over every process's rows
  padded = (lambda b: task.padded(b) * jax.process_count()) if task.padded else (lambda b: 0)

  def stopped():
    log.info("stopped at step %d; run the same command again to resume", step)
    return {"stopped_at_step": step, **({"interrupted": True} if stop.requested else {})}

  last_epoch = first_epoch if meta.stopped_early else config.train.num_epochs
  for epoch in range(first_epoch, last_epoch):
    t0 = time.time() - (meta.epoch_seconds if offset else 0.0)
    sums = Sums.from_dict(meta.epoch_sums) if offset and meta.epoch_sums else None
    epoch_padded = meta.epoch_padded if offset else 0
    # streamed data (data.pipeline=grain) go on from the saved position; in memory: skip
    resume = {"state": meta.data_state} if offset and meta.data_state else {}
    epoch_data = task.train_data.batches(
      seed=config.seed, epoch=epoch, start=offset, rows=rows, **resume
    )
    data_state = getattr(epoch_data, "get_state", lambda: None)
    bar = tqdm(
      epoch_data,
      total=steps_per_epoch,
      initial=offset,
      desc=f"epoch {epoch + 1}",
      leave=False,
      dynamic_ncols=True,
      mininterval=1.0,
    )
    stopping = False
    for batch in bar:
      state, out, grad_norm = train_step(state, put(batch))
      sums = out if sums is None else sums + out
      n_padded = padded(batch)
      epoch_padded += n_padded
      window.add(out, grad_norm, n_padded)
      step += 1
      if step % log_every == 0:
        loss_sum, weight = fetch((sums.loss, sums.weight))
        check_loss(loss_sum, step, ckpts.latest_step())
        bar.set_postfix(loss=f"{float(loss_sum / weight):.3f}")
        record = window.record(step, learning_rate(schedule, step - 1), task.units)
        meta.history.append(record)
        records.add(record)
        window = StepWindow()
      stopping = bool(stop.requested or (stop_after and step >= stop_after))
      if stopping:
        break
      # not on the epoch's last step: the epoch's end saves it, with its evaluation (a save
      # here first would make that one a no-op, and a resume would skip the evaluation)
      if ckpt_every and step % ckpt_every == 0 and step % steps_per_epoch:
        save("latest", sums, time.time() - t0, epoch_padded, data_state())
    bar.close()
    if stopping and step % steps_per_epoch:  # mid-epoch: save the partial sums and stop
      save("latest", sums, time.time() - t0, epoch_padded, data_state())
      getattr(epoch_data, "close", lambda: None)()
      return stopped()
    getattr(epoch_data, "close", lambda: None)()  # a streamed epoch's reader processes
    offset = 0
    train_sums = fetch(sums)
    t_end = time.time()  # the epoch's end: evaluation and saves do not count in steps/s
    check_loss(train_sums.loss, step, ckpts.latest_step())
    train_m = task.summarize(jax.tree.map(float, train_sums))
    weight = float(train_sums.weight)
    train_m[f"{task.units}_per_second"] = weight / max(t_end - t0, 1e-9)
    if epoch_padded:
      train_m["real_share"] = weight / epoch_padded
    valid_m = evaluate(
      eval_step, state.params, task.eval_data["validation"], task.summarize, batch_shard
    )
    check_loss(valid_m["loss"], step, ckpts.latest_step())
    if select != "loss":
      valid_m.update(task.valid_metrics(state.params))
    seconds = time.time() - t0
    record = {
      "epoch": epoch + 1,
      "step": step,
      "seconds": round(seconds, 2),
      **{f"train_{k}": v for k, v in train_m.items()},
      **{f"valid_{k}": v for k, v in valid_m.items()},
    }
    meta.history.append(record)
    records.add(record)
    log.info(
      "Epoch: %02d | Time: %dm %02ds | step %d", epoch + 1, seconds // 60, seconds % 60, step
    )
    for name, m in (("Train", train_m), (" Val.", valid_m)):
      log.info("%s", task.epoch_line(name, m))
    if select != "loss":
      log.info("\t Val. %s: %.3f", select, valid_m[select])
    if task.on_epoch_end is not None:
      task.on_epoch_end(state.params, epoch + 1)
    value = valid_m[select]
    if meta.best_epoch is None or (value > meta.best_value if higher else value < meta.best_value):
      meta.best_value, meta.best_epoch = value, epoch + 1
      save("best")
    patience = config.train.early_stop_patience
    meta.stopped_early = bool(patience and epoch + 1 - meta.best_epoch >= patience)
    if config.train.keep_checkpoints:  # before latest: a resume never skips an epoch's params
      ckpts.save_params("epochs", step, state.params, {"epoch": epoch + 1, "step": step})
    save("latest")
    if is_main_process():
      epochs = [r for r in meta.history if kind(r) == "epoch"]
      plots.loss_curves(
        {
          "train": [(r["epoch"], r["train_loss"]) for r in epochs],
          "valid": [(r["epoch"], r["valid_loss"]) for r in epochs],
        },
        workdir / "loss.png",
        title="loss per epoch",
      )
    window.t0 += time.time() - t_end
    if stopping:  # stopped on an epoch's last step: after its evaluation and checkpoints
      return stopped()
    if meta.stopped_early:
      log.info("early stop: no better valid %s for %d epochs", select, patience)
      break

  stop.release()  # the report cannot stop half-way and resume: a Ctrl-C now aborts at once
  averaged = {}
  if config.train.keep_checkpoints:  # first, so the best's report files (plots) are the last
    params, info = average.average_epochs(ckpts, config.train.keep_checkpoints, state.params)
    log.info("averaged the params of epochs %s; evaluating them", info["epochs"])
    m = evaluate_split(task, params, "test", eval_step, batch_shard)
    averaged = {f"averaged_{k}": v for k, v in m.items() if isinstance(v, (int, float))}
    averaged["averaged_epochs"] = info["epochs"]
    _keep_as_averaged(workdir)
  log.info(
    "best valid %s %.3f at epoch %s; evaluating that checkpoint",
    select,
    meta.best_value,
    meta.best_epoch,
  )
  best_state, _ = ckpts.restore("best", state)
  result = evaluate_split(task, best_state.params, "test", eval_step, batch_shard)
  result.update(
    averaged,
    parameters=n_params,
    best_epoch=meta.best_epoch,
    seconds_per_epoch=[r["seconds"] for r in meta.history if kind(r) == "epoch"],
  )
  records.add({"split": "test", **result}, step=step)
  return result


def evaluate_split(task: Task, params, split: str, eval_step=None, shard=None) -> dict:
  """Loss metrics of a split plus the task's own report (BLEU, accuracy, plots...)."""
  data = task.eval_data[split]
  m = loss_metrics(task.loss_fn, task.summarize, params, data, split, eval_step, shard)
  return {**m, **task.report(params, split)}


def loss_metrics(
  loss_fn, summarize, params, data: BucketedDataset, name: str, eval_step=None, shard=None
) -> dict[str, float]:
  """`evaluate` with loss_fn's jitted eval step (made here unless given, with its sharding),
  logged as one line `name loss 1.234 | ppl 3.435 | ...`."""
  if eval_step is None:
    _, eval_step = make_steps(loss_fn)
    shard, replicated = data_sharding()
    params = jax.device_put(params, replicated)
  m = evaluate(eval_step, params, data, summarize, shard)
  log.info("%s %s", name, " | ".join(f"{k} {v:.3f}" for k, v in m.items()))
  return m


def _keep_as_averaged(workdir: Path) -> None:
  """Renames the averaged params' per-example test files before the best's report writes
  its own: hyp_test_<search>.txt -> hyp_test_averaged_<search>.txt (so a sweep's paired
  test can score `averaged_<search>_bleu`), predictions_test.tsv ->
  predictions_test_averaged.tsv."""
  if not is_main_process():
    return
  for path in workdir.glob("hyp_test_*.txt"):
    if not path.name.startswith("hyp_test_averaged_"):
      path.replace(workdir / path.name.replace("hyp_test_", "hyp_test_averaged_", 1))
  if (workdir / "predictions_test.tsv").exists():
    (workdir / "predictions_test.tsv").replace(workdir / "predictions_test_averaged.tsv")


def decode_checkpoint(config) -> str:
  """decode.checkpoint (best | averaged | latest): what evaluate, translate and predict
  restore; "best" for a config without the key (a run saved before it, a classifier)."""
  return config.get("decode", {}).get("checkpoint", "best")


def restore_params(model, init_args: tuple, config, workdir: str | Path, which: str = "best"):
  """Params of the `which` checkpoint in workdir: best or latest (a train state's params),
  averaged (params alone). Modes pass `decode_checkpoint(config)`."""
  state = create_state(model, init_args, config)
  with Checkpoints(workdir) as ckpts:
    if which in Checkpoints.PARAMS_ONLY:
      return ckpts.restore_params(which, state.params)[0]
    state, _ = ckpts.restore(which, state)
  return state.params
