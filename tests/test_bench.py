"""The benchmark command runs at --quick sizes and writes a well-formed report (no timings)."""

import json

import pytest

from seq2seq_jax.bench.timing import onednn_problem

pytest.importorskip("torch")

from seq2seq_jax import bench  # noqa: E402


def test_quick_bench_report(tmp_path):
  bench.main(
    [
      "--quick",
      "--models=gru_attention,char_rnn,transformer",
      "--repeats=2",
      "--target_s=0.005",
      "--ref_sentences=2",
      "--no-memory",
      f"--out={tmp_path}",
    ]
  )
  report = json.loads((tmp_path / "bench.json").read_text())
  md = (tmp_path / "bench.md").read_text()
  assert "| gru_attention |" in md
  import jax

  device = jax.devices()[0].device_kind  # the device kind it ran on, in both files
  assert report["machine"]["device"] == device and f"on {jax.default_backend()} ({device})" in md
  assert report["matmul"]["flop_per_s"] > 0
  assert [r["model"] for r in report["results"]] == ["gru_attention", "char_rnn", "transformer"]
  for r in report["results"]:
    t = r["train"]
    assert len(t["jax"]["ms_per_step_all"]) == len(t["torch"]["ms_per_step_all"]) == 2
    for side in ("jax", "torch"):
      assert t[side]["ms_per_step"] > 0 and t[side]["per_s"] > 0
    assert t["speedup"] > 0
    assert t["jax"]["compilations"] == 1 and t["jax"]["compile_s"] > 0
  tr = report["results"][0]
  assert tr["train"]["jax"]["flops_per_step"] > 0 and tr["train"]["jax"]["flop_per_s"] > 0
  assert tr["decode"]["greedy"]["speedup"] > 0 and tr["decode"]["beam4"]["jax_sent_per_s"] > 0
  beam = tr["decode"]["beam4"]
  assert beam["torch_sent_per_s"] > 0 and beam["speedup"] > 0
  assert "beam 4 speed-up" in (tmp_path / "bench.md").read_text()
  assert report["results"][1]["decode"] is None  # the classifier decodes nothing
  bf16 = report["results"][2]["train"]["bfloat16"]  # --bf16's default: the transformer's row
  assert bf16["jax"]["ms_per_step"] > 0 and bf16["torch"]["ms_per_step"] > 0
  assert bf16["jax"]["compilations"] == 1 and "Training in bf16" in md
  assert "bfloat16" not in report["results"][0]["train"]  # a family without the row
  g = report["matmul_gflops"]
  assert all(g[side][d] > 0 for side in ("jax", "torch") for d in ("float32", "bfloat16"))
  train_row = report["results"][2]["train"]
  if onednn_problem() is None:  # train.matmul=onednn's two rows and its matmul figure
    for key in ("bfloat16_onednn", "float32_onednn"):
      assert train_row[key]["jax"]["ms_per_step"] > 0 and train_row[key]["vs_torch_fp32"] > 0
    assert g["jax_onednn"]["bfloat16"] > 0 and "oneDNN's matmuls" in md
    assert f"JAX through {g['jax_onednn']['version']} (train.matmul=onednn)" in md
  else:
    assert "not timed" in md and train_row["onednn_unavailable"] == onednn_problem()


def test_gpu_bench_runs_at_quick_sizes_and_counts_flops(tmp_path):
  """bench.gpu (for GPU machines; no PyTorch) at --quick sizes on whatever device is here:
  every model x dtype row, FLOPs counted, shares of the measured matmul."""
  from seq2seq_jax.bench import gpu

  models = ("transformer_base", "bigru")  # the Multi30k transformer runs the same code
  report = gpu.main(["--quick", f"--models={','.join(models)}", f"--out={tmp_path}"])
  rows = {(r["model"], r["dtype"]): r for r in report["rows"]}
  assert set(rows) == {(m, d) for m in models for d in gpu.DTYPES}
  for r in rows.values():
    assert r["ms_per_step"] > 0 and r["flops"] > 0 and 0 < r["of_matmul"]
  # the bi-GRU's FLOPs are counted from its parameters, the same for both dtypes
  assert rows["bigru", "float32"]["flops"] == rows["bigru", "bfloat16"]["flops"]
  md = (tmp_path / "bench_gpu.md").read_text()
  assert "| transformer_base | bfloat16 |" in md
  assert gpu.peak("NVIDIA H100 80GB HBM3", "bfloat16") == 989.4e12
  assert gpu.peak("Tesla V100-SXM2-16GB", "bfloat16") is None and gpu.peak("cpu", "float32") is None
