"""The grain pipeline (data.pipeline=grain) on a generated WMT-layout sample: the same pairs
and shapes as the in-memory path, seeded order, host shards, exact resume, the WMT
builder's errors, and training end to end."""

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from seq2seq_jax import train
from seq2seq_jax.data import registry
from seq2seq_jax.data.streaming import StreamedPairs
from seq2seq_jax.errors import ConfigError, DataError
from seq2seq_jax.tasks import translation
from tests.conftest import load_config, wmt_config


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


@pytest.mark.parametrize("packing", [False, True])
def test_a_stopped_and_resumed_run_trains_as_the_uninterrupted_one(sample, tmp_path, packing):
  data = dict(packing=True, packed_length=(48, 48)) if packing else {}

  def run(workdir, stops):
    for stop in stops:
      c = wmt_config(sample, tmp_path, **data)
      c.train.update(stop_after_steps=stop)
      workdir.mkdir(exist_ok=True)
      task = translation.build_task(c, workdir)
      result = train.train_and_evaluate(task, c, workdir)
    params = train.restore_params(task.model, task.init_args, c, workdir, "latest")
    return result, jax.tree.leaves(params)

  whole, params = run(tmp_path / "whole", [0])
  _, stopped = run(tmp_path / "stopped", [3])
  meta = json.loads((tmp_path / "stopped/checkpoints/latest/3/meta/metadata").read_text())
  assert meta["data_state"]["batches"] == 3
  assert packing or meta["data_state"]["position"] > 0  # packed: the batch number is all
  resumed, resumed_params = run(tmp_path / "stopped", [0])
  assert resumed["loss"] == whole["loss"]
  for a, b in zip(resumed_params, params):
    np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def packed(sample, tmp_path_factory):
  """(config, workdir, streamed pairs, vocabularies, packed stream) of the sample: rows
  of 48 + 48 tokens, 8 a batch."""
  tmp = tmp_path_factory.mktemp("packed")
  c = wmt_config(sample, tmp, packing=True, packed_length=(48, 48))
  data = StreamedPairs(registry.stream_parallel(c.data))
  vocabs = translation.vocabs_for(c, tmp, data)
  return c, tmp, data, vocabs, translation.streamed_dataset(c, tmp, data, *vocabs)


def segments(batches):
  """Every packed pair of `batches`: its (src, tgt_out) tokens; checks that each pair's
  positions count from 0 and that its target input is <sos> + its output's head."""
  out = []
  for b in batches:
    for r, n in enumerate(b["pairs"]):
      for seg in range(1, n + 1):
        s, t = b["src_segment"][r] == seg, b["tgt_segment"][r] == seg
        np.testing.assert_array_equal(b["src_position"][r][s], np.arange(s.sum()))
        np.testing.assert_array_equal(b["tgt_position"][r][t], np.arange(t.sum()))
        np.testing.assert_array_equal(b["tgt_in"][r][t][1:], b["tgt_out"][r][t][:-1])
        out.append((tuple(b["src"][r][s]), tuple(b["tgt_out"][r][t])))
  return out


def test_streamed_packing_holds_every_pair_once_per_epoch_in_one_shape(packed, datasets):
  ds = packed[-1]
  memory = list(datasets[3].batches(seed=1, epoch=0))
  want, _ = rows(memory)  # the in-memory path's pairs
  bucketed = sum(b["tgt_len"].sum() for b in memory) / sum(b["tgt_out"].size for b in memory)
  firsts = []
  for epoch in (0, 1):
    batches = list(ds.batches(seed=1, epoch=epoch))
    assert len(batches) == ds.num_batches() == -(-len(ds.plan) // 8)
    assert {(b["src"].shape, b["tgt_out"].shape) for b in batches} == {((8, 48), (8, 48))}
    assert sorted(segments(batches)) == sorted(want)
    real = sum(int((b["tgt_segment"] > 0).sum()) for b in batches)
    share = real / sum(b["tgt_segment"].size for b in batches)
    assert share > bucketed + 0.05  # here 0.82 against 0.7x
    firsts.append(batches[0]["src"])
  assert not np.array_equal(*firsts)  # each epoch its own order of the rows


def test_the_packing_is_planned_once_per_seed_and_length(packed):
  c, tmp, data, vocabs, ds = packed
  ids = Path(ds.plan.ids_file)
  planned = ids.stat().st_mtime_ns
  again = translation.streamed_dataset(c, tmp, data, *vocabs)
  assert ids.stat().st_mtime_ns == planned  # reused from the run directory
  np.testing.assert_array_equal(again.plan.offsets(), ds.plan.offsets())
  before = np.array(ds.plan.ids())
  c2 = c.copy_and_resolve_references()
  c2.seed += 1
  other = translation.streamed_dataset(c2, tmp, data, *vocabs)  # another seed: planned anew
  assert ids.stat().st_mtime_ns != planned and not np.array_equal(other.plan.ids(), before)
  translation.streamed_dataset(c, tmp, data, *vocabs)  # the fixture's plan back
  np.testing.assert_array_equal(ds.plan.ids(), before)  # the same seed plans the same rows


def test_packed_stream_resumes_at_a_batch_and_splits_rows_between_processes(packed):
  ds = packed[-1]
  whole = list(ds.batches(seed=3, epoch=1))
  it = ds.batches(seed=3, epoch=1)
  for _ in range(4):
    next(it)
  state = json.loads(json.dumps(it.get_state()))
  it.close()
  for workers in (0, 2):
    rest = list(
      dataclasses.replace(ds, workers=workers).batches(seed=3, epoch=1, start=4, state=state)
    )
    assert len(rest) == len(whole) - 4
    for a, b in zip(rest, whole[4:]):
      for k in b:
        np.testing.assert_array_equal(a[k], b[k])
  halves = [list(ds.batches(seed=3, epoch=1, rows=(lo, lo + 4))) for lo in (0, 4)]
  for a, b, w in zip(*halves, whole, strict=True):
    for k in w:
      np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), w[k])
  with pytest.raises(
    DataError, match="saved data state is at epoch 1 batch 4, not epoch 1 batch 5"
  ):
    ds.batches(seed=3, epoch=1, start=5, state=state)


def test_a_split_past_tfds_memory_buffer_is_prepared_without_tensorflow(
  sample, tmp_path, monkeypatch
):
  """tfds spills a split bigger than its in-memory buffer (1 GB) to files through
  TensorFlow, which is not installed: with the buffer shrunk to 1 kB, a WMT-sized corpus
  in miniature, preparing must still work and leave tfds's limit as it was."""
  from tensorflow_datasets.core import shuffle

  monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1000)
  c = wmt_config(sample, tmp_path)
  streamed = StreamedPairs(registry.stream_parallel(c.data))
  assert len(streamed.train) == 300 and shuffle.MAX_MEM_BUFFER_SIZE == 1000


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
  from tests.conftest import cli

  workdir = tmp_path / "run"
  flags = {
    "data.dir": sample,
    "data.cache_dir": tmp_path / "cache",
    "data.workers": 1,  # a grain reader process, under absl's parsed flags
    "data.tokenizer": "",  # whitespace words (the recipe's 32 k pieces need more text)
    "data.bucket_edges": "(24,)",
    "data.packed_length": "(48, 48)",  # the recipe's packing, 8 rows of 48
    "train.max_tokens": 384,
    "model.hid": 32,
    "model.enc_layers": 1,
    "model.dec_layers": 1,
    "model.heads": 4,
    "model.ff": 64,
    "model.max_len": 32,
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
  plan = json.loads((workdir / "train_packing.json").read_text())  # the recipe packs
  assert plan["settings"]["rows"] == 8 and plan["settings"]["src_length"] == 48
  assert "packing: " in proc.stderr and " batches of 8 rows" in proc.stderr
  config = json.loads((workdir / "config.json").read_text())
  assert config["data"]["pipeline"] == "grain"
