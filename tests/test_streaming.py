"""The grain pipeline (data.pipeline=grain) on a generated WMT-layout sample: the same pairs
and shapes as the in-memory path, seeded order, host shards, exact resume, the WMT
builder's errors, and training end to end."""

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.data import registry
from seq2seq_jax.data.sample import write_wmt_sample
from seq2seq_jax.data.streaming import StreamedPairs
from seq2seq_jax.errors import ConfigError, DataError
from seq2seq_jax.tasks import translation
from tests.conftest import load_config


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
  """300 training pairs of at most 20 words, 40 validation and test pairs."""
  return write_wmt_sample(tmp_path_factory.mktemp("wmt"), 300, valid=40, test=40, max_len=20)


def wmt_config(sample, tmp_path, **data):
  c = load_config("transformer", "wmt14_base")
  c.data.update(dir=str(sample), cache_dir=str(tmp_path / "cache"), workers=0)
  c.data.update(bucket_edges=(12, 24), tokenizer="", **data)  # words: the pipeline alone
  c.model.update(hid=32, enc_layers=1, dec_layers=1, heads=4, ff=64, max_len=32)
  c.train.update(
    num_epochs=1, batch_size=32, eval_batch_size=64, compute_dtype="float32", warmup_steps=5
  )
  c.train.update(keep_checkpoints=0, checkpoint_every_steps=0, log_every_steps=2)
  c.decode.update(max_len=24, eval_beam_sizes=(2,), num_samples=0)
  return c


@pytest.fixture(scope="module")
def datasets(sample, tmp_path_factory):
  """(config, workdir, streamed train set, in-memory train set) of the sample."""
  tmp = tmp_path_factory.mktemp("run")
  c = wmt_config(sample, tmp)
  data = StreamedPairs(registry.stream_parallel(c.data))
  vocabs = translation.vocabs_for(c, tmp, data)
  streamed = translation.streamed_dataset(c, tmp, data, *vocabs)
  pairs = registry.load_parallel(c.data).train
  memory = translation.make_dataset(c, pairs, *vocabs, 32, drop_long=True)
  return c, tmp, streamed, memory


def rows(batches):
  """The real rows of `batches`: (src, tgt_out) token tuples, and the batches' edges."""
  out, edges = [], set()
  for b in batches:
    edges.add(b["src"].shape[1])
    for r in np.flatnonzero(b["index"] >= 0):
      n, m = b["src_len"][r], b["tgt_len"][r]
      out.append((tuple(b["src"][r, :n]), tuple(b["tgt_out"][r, :m])))
  return out, edges


def test_each_epoch_holds_the_in_memory_pairs_once_in_the_same_shapes(datasets):
  _, _, streamed, memory = datasets
  got, edges = rows(streamed.batches(seed=1, epoch=0))
  want, want_edges = rows(memory.batches(seed=1, epoch=0))
  assert sorted(got) == sorted(want) and len(got) == len(set(got)) == 300
  assert edges == want_edges == streamed.shapes() == memory.shapes() == {12, 24}
  assert streamed.num_batches() == memory.num_batches() == len(list(streamed.batches(seed=1)))
  batch = next(iter(streamed.batches(seed=1)))
  assert {k: v.shape[0] for k, v in batch.items()} == dict.fromkeys(batch, 32)


def test_the_seed_and_the_epoch_set_the_order(datasets):
  streamed = datasets[2]
  order = lambda seed, epoch: [tuple(b["index"]) for b in streamed.batches(seed=seed, epoch=epoch)]
  assert order(1, 0) == order(1, 0)
  assert order(1, 0) != order(2, 0)
  assert order(1, 0) != order(1, 1)


def test_host_shards_are_disjoint_cover_the_data_and_agree_on_shapes(datasets):
  streamed = datasets[2]
  shards = []
  for index in (0, 1):
    host = dataclasses.replace(streamed, host=(index, 2))
    batches = list(host.batches(seed=1, epoch=0, rows=(16 * index, 16 * index + 16)))
    assert len(batches) == host.num_batches() == 10  # ceil(150 / 16), on both processes
    assert {b["src"].shape for b in batches} == {(16, 24)}  # one shape: the largest edge
    shards.append({int(i) for b in batches for i in b["index"] if i >= 0})
  assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(300))


def test_resume_from_a_saved_state_gives_the_same_batches(datasets):
  streamed = datasets[2]
  whole = list(streamed.batches(seed=3, epoch=1))
  it = streamed.batches(seed=3, epoch=1)
  for _ in range(4):
    next(it)
  state = json.loads(json.dumps(it.get_state()))  # as the checkpoint's meta holds it
  assert state["batches"] == 4 and sum(map(len, state["pending"])) > 0
  for workers in (0, 2):  # another worker count reads on the same way
    ds = dataclasses.replace(streamed, workers=workers)
    rest = list(ds.batches(seed=3, epoch=1, start=4, state=state))
    assert len(rest) == len(whole) - 4
    for a, b in zip(rest, whole[4:]):
      assert a.keys() == b.keys()
      for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_a_stopped_and_resumed_run_trains_as_the_uninterrupted_one(sample, tmp_path):
  def run(workdir, stops):
    for stop in stops:
      c = wmt_config(sample, tmp_path)
      c.train.update(stop_after_steps=stop)
      workdir.mkdir(exist_ok=True)
      task = translation.build_task(c, workdir)
      result = train.train_and_evaluate(task, c, workdir)
    params = train.restore_params(task.model, task.init_args, c, workdir, "latest")
    return result, jax.tree.leaves(params)

  whole, params = run(tmp_path / "whole", [0])
  _, stopped = run(tmp_path / "stopped", [3])
  meta = json.loads((tmp_path / "stopped/checkpoints/latest/3/meta/metadata").read_text())
  assert meta["data_state"]["batches"] == 3 and meta["data_state"]["position"] > 0
  resumed, resumed_params = run(tmp_path / "stopped", [0])
  assert resumed["loss"] == whole["loss"]
  for a, b in zip(resumed_params, params):
    np.testing.assert_array_equal(a, b)


def test_wmt_builder_refuses_missing_files_and_unaligned_lines(sample, tmp_path):
  c = wmt_config(sample, tmp_path)
  broken = tmp_path / "broken"
  shutil.copytree(sample, broken)
  c.data.dir = str(broken)
  (broken / "newstest2014.de").unlink()
  with pytest.raises(DataError, match=r"newstest2014\.de is missing"):
    registry.stream_parallel(c.data)
  shutil.copy(sample / "newstest2014.de", broken / "newstest2014.de")
  with (broken / "train.de").open("a") as f:
    f.write("one line too many\n")
  with pytest.raises(DataError, match=r"train\.en has 300 lines but .*train\.de has 301"):
    registry.stream_parallel(c.data)
  c.data.tgt_lang = "en"
  with pytest.raises(ConfigError, match="both 'en'"):
    registry.stream_parallel(c.data)


def test_the_wmt_sample_reads_the_same_in_memory_and_streamed(sample, tmp_path):
  c = wmt_config(sample, tmp_path, lowercase=True)
  memory = registry.load_parallel(c.data)
  streamed = StreamedPairs(registry.stream_parallel(c.data))
  assert list(streamed.split("train")) == memory.train
  assert streamed.test == memory.test and len(streamed.validation) == 40
  first = (sample / "train.en").read_text().splitlines()[0].split()
  assert memory.train[0][0] == first


def test_grain_needs_a_dataset_with_record_files(tmp_path):
  c = load_config("transformer")
  c.data.pipeline = "grain"
  with pytest.raises(ConfigError, match="data.pipeline=grain .* 'numbers' has none"):
    translation.build_task(c, tmp_path)


def test_the_command_line_trains_on_the_grain_pipeline(sample, tmp_path):
  from tests.test_cli import cli

  workdir = tmp_path / "run"
  flags = {
    "data.dir": sample,
    "data.cache_dir": tmp_path / "cache",
    "data.workers": 1,  # a grain reader process, under absl's parsed flags
    "data.tokenizer": "",  # whitespace words (the recipe's 32 k pieces need more text)
    "data.bucket_edges": "(24,)",
    "model.hid": 32,
    "model.enc_layers": 1,
    "model.dec_layers": 1,
    "model.heads": 4,
    "model.ff": 64,
    "model.max_len": 32,
    "train.batch_size": 64,
    "train.num_epochs": 1,
    "train.keep_checkpoints": 0,
    "train.compute_dtype": "float32",
    "decode.max_len": 24,
    "decode.eval_beam_sizes": "()",
    "decode.num_samples": 0,
  }
  proc = cli(
    "--config=configs/transformer.py:wmt14_base",
    f"--workdir={workdir}",
    *(f"--config.{k}={v}" for k, v in flags.items()),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Epoch: 01" in proc.stderr and "test greedy: BLEU" in proc.stderr
  assert json.loads((workdir / "train_lengths.json").read_text())["counts"]
  config = json.loads((workdir / "config.json").read_text())
  assert config["data"]["pipeline"] == "grain"
