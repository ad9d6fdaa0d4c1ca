"""The transformer against its PyTorch reference: outputs, gradients, greedy decodes, the
state_dict importer and the import command line (initialisers: test_parity_transformer_init)."""

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from seq2seq_jax import decoding  # noqa: E402
from seq2seq_jax.errors import CheckpointError, DataError, UserError  # noqa: E402
from seq2seq_jax.interop import parity  # noqa: E402
from seq2seq_jax.interop import torch_models as tm  # noqa: E402
from seq2seq_jax.interop.__main__ import read_vocab_file  # noqa: E402
from seq2seq_jax.interop.__main__ import run as import_run  # noqa: E402
from seq2seq_jax.interop.torch_import import (  # noqa: E402
  TRANSFORMER,
  abstract_variables,
  export_state_dict,
  import_state_dict,
  load_state_dict,
)
from seq2seq_jax.models.transformer import Transformer  # noqa: E402
from tests.conftest import ROOT, load_config  # noqa: E402
from tests.torch_helpers import assert_parity_case, decode_padded, run_module  # noqa: E402

torch.set_num_threads(1)  # tiny models; torch's threads would only fight XLA's

PAD, BOS, EOS = parity.PAD, parity.BOS, parity.EOS
SPECIALS = ["<unk>", "<pad>", "<sos>", "<eos>"]
WORDS = list("abcdefghijklmnop")
SRC_TOKENS = SPECIALS + WORDS
TGT_TOKENS = SPECIALS + [w.upper() for w in WORDS] + ["X"]  # sizes differ: 20 and 21
CLI_MODEL = [
  "--config.model.hid=32",
  "--config.model.enc_layers=2",
  "--config.model.dec_layers=2",
  "--config.model.heads=4",
  "--config.model.ff=64",
  "--config.model.max_len=32",
]


def reverse_pairs(rng, n):
  """The toy task: lower-case words -> the same words upper-cased, in reverse order."""
  pairs = []
  for _ in range(n):
    words = list(rng.choice(WORDS, rng.integers(2, 7)))
    pairs.append((words, [w.upper() for w in reversed(words)]))
  return pairs


def src_ids(words):
  return [BOS] + [SRC_TOKENS.index(w) for w in words] + [EOS]  # the tutorial's source Field


def torch_batch(pairs):
  rows = lambda seqs: torch.nn.utils.rnn.pad_sequence(
    [torch.tensor(s) for s in seqs], batch_first=True, padding_value=PAD
  )
  tgt = [[BOS] + [TGT_TOKENS.index(w) for w in t] + [EOS] for _, t in pairs]
  return rows([src_ids(s) for s, _ in pairs]), rows(tgt)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A small tutorial transformer trained 200 steps with the tutorial's loop, saved as a
  user would: the state_dict .pt and the vocabularies one token a line."""
  cfg = parity.tiny_transformer_config(
    src_vocab_size=len(SRC_TOKENS), tgt_vocab_size=len(TGT_TOKENS), max_len=32
  )
  torch.manual_seed(0)
  model = tm.build_transformer(cfg, PAD, PAD)
  optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
  criterion = torch.nn.CrossEntropyLoss(ignore_index=PAD)
  rng = np.random.default_rng(0)
  for _ in range(4):
    tm.train_epoch(
      model,
      [torch_batch(reverse_pairs(rng, 32)) for _ in range(50)],
      optimizer,
      criterion,
      clip=1.0,
    )
  model.eval()
  d = tmp_path_factory.mktemp("torch_run")
  torch.save(model.state_dict(), d / "model.pt")
  (d / "src.txt").write_text("\n".join(SRC_TOKENS) + "\n")
  (d / "tgt.txt").write_text("\n".join(TGT_TOKENS) + "\n")
  return dict(cfg=cfg, model=model, dir=d)


def flax_import(cfg, state_dict):
  model = Transformer(cfg)
  ones = np.ones((1, 4), np.int32)
  target = abstract_variables(model, ones, np.array([4], np.int32), ones)
  return model, import_state_dict(state_dict, TRANSFORMER, target)


# ---------------------------------------------------------------- outputs and gradients


@pytest.mark.parametrize("case", [c for c in parity.CASES if c.startswith("transformer")])
def test_outputs_and_gradients_match_pytorch(case):
  """Padded batch, eval mode (dropout 0.1 off) and train mode with dropout 0."""
  assert_parity_case(case)


def test_parity_check_sees_a_wrong_model(trained):
  """Same weights into a Flax model with 2 heads instead of 4: logits must differ."""
  cfg = trained["cfg"]
  model, variables = flax_import(dataclasses.replace(cfg, heads=2), trained["model"].state_dict())
  src, tgt = torch_batch(reverse_pairs(np.random.default_rng(3), 4))
  ours, _ = model.apply(variables, src.numpy(), (src != PAD).sum(1).numpy(), tgt[:, :-1].numpy())
  with torch.no_grad():
    theirs, _ = trained["model"](src, tgt[:, :-1])
  assert np.max(np.abs(np.asarray(ours)[:, 0] - theirs.numpy()[:, 0])) > 1e-2


# ---------------------------------------------------------------- greedy decodes


def test_imported_greedy_decodes_equal_pytorch_token_for_token(trained):
  model, variables = flax_import(trained["cfg"], trained["model"].state_dict())
  sentences = [s for s, _ in reverse_pairs(np.random.default_rng(1), 12)]
  ids = [src_ids(s) for s in sentences]
  out = decode_padded(
    decoding.greedy_search, model, variables, ids, 12, PAD, max_len=20, bos_id=BOS, eos_id=EOS
  )
  ours = [out["tokens"][b, : out["lengths"][b]].tolist() for b in range(len(ids))]
  theirs = [tm.translate_sentence(trained["model"], i, BOS, EOS, max_len=20) for i in ids]
  assert ours == theirs
  assert all(t[-1] == EOS for t in theirs) and len({tuple(t) for t in theirs}) >= 8


# ---------------------------------------------------------------- beam search


def teacher_forced_logprob(model, src, ids):
  """The model's own log-probability of the generated ids, from one teacher-forced pass."""
  with torch.no_grad():
    logits, _ = model(torch.tensor([src]), torch.tensor([[BOS] + ids[:-1]]))
  return torch.log_softmax(logits[0], -1)[torch.arange(len(ids)), torch.tensor(ids)].sum().item()


def test_reference_beam_search_scores_its_hypotheses_by_the_model(trained):
  """Beam 1 with an <eos> the model cannot emit is the argmax path (greedy's); beam 4's
  hypotheses are distinct, best first, scored by their teacher-forced log-probs, and the
  best is at least as likely as the greedy translation."""
  ref = trained["model"]
  for words, _ in reverse_pairs(np.random.default_rng(4), 8):
    i = src_ids(words)
    assert tm.beam_search(ref, i, BOS, -1, beam_size=1, max_len=8)[0][0] == tm.translate_sentence(
      ref, i, BOS, -1, max_len=8
    )
    hyps = tm.beam_search(ref, i, BOS, EOS, beam_size=4, max_len=20)
    assert len(hyps) == 4 and len({tuple(h[0]) for h in hyps}) == 4
    assert all(h[0][-1] == EOS for h in hyps)
    for ids, logprob, score in hyps:
      assert logprob == score  # alpha 0
      np.testing.assert_allclose(logprob, teacher_forced_logprob(ref, i, ids), atol=1e-4)
    # Finished hypotheses first, each part best first.
    ranks = [(h[0][-1] != EOS, -h[2]) for h in hyps]
    assert ranks == sorted(ranks)
    greedy = tm.translate_sentence(ref, i, BOS, EOS, max_len=20)
    assert hyps[0][1] >= teacher_forced_logprob(ref, i, greedy) - 1e-5


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_reference_beam_search_equals_seq2seq_jax(trained, alpha):
  """The same weights: decoding.beam_search on one padded batch returns, for each sentence,
  the reference's K hypotheses token for token, in the same order, with the same scores."""
  ref = trained["model"]
  model, variables = flax_import(trained["cfg"], ref.state_dict())
  ids = [src_ids(s) for s, _ in reverse_pairs(np.random.default_rng(5), 8)]
  out = decode_padded(
    decoding.beam_search,
    model,
    variables,
    ids,
    12,
    PAD,
    max_len=12,
    bos_id=BOS,
    eos_id=EOS,
    beam_size=4,
    alpha=alpha,
  )
  for b, i in enumerate(ids):
    theirs = tm.beam_search(ref, i, BOS, EOS, beam_size=4, max_len=12, alpha=alpha)
    assert [out["tokens"][b, k, : out["lengths"][b, k]].tolist() for k in range(4)] == [
      h[0] for h in theirs
    ]
    np.testing.assert_allclose(out["logprob"][b], [h[1] for h in theirs], atol=1e-4)
    np.testing.assert_allclose(out["score"][b], [h[2] for h in theirs], atol=1e-4)


# ---------------------------------------------------------------- the importer


def test_import_round_trips_every_layout(trained, tmp_path):
  sd = {k: v.numpy() for k, v in trained["model"].state_dict().items()}
  _, variables = flax_import(trained["cfg"], trained["model"].state_dict())
  kernel = variables["params"]["encoder"]["layers_1"]["self_attention"]["fc_q"]["kernel"]
  np.testing.assert_array_equal(kernel, sd["encoder.layers.1.self_attention.fc_q.weight"].T)
  assert export_state_dict(variables, TRANSFORMER).keys() == sd.keys()
  for k, v in export_state_dict(variables, TRANSFORMER).items():
    np.testing.assert_array_equal(v, sd[k])
  np.savez(tmp_path / "sd.npz", **sd)
  torch.save(
    {"model_state_dict": {f"module.{k}": v for k, v in trained["model"].state_dict().items()}},
    tmp_path / "ddp.pt",
  )
  for source in (trained["dir"] / "model.pt", tmp_path / "sd.npz", tmp_path / "ddp.pt"):
    assert load_state_dict(source).keys() == sd.keys()


def test_importer_names_the_first_mismatch(trained, tmp_path):
  cfg, sd = trained["cfg"], dict(trained["model"].state_dict())

  def error(state_dict, **changes):
    with pytest.raises(CheckpointError) as e:
      flax_import(dataclasses.replace(cfg, **changes), state_dict)
    return str(e.value)

  missing = {k: v for k, v in sd.items() if k != "decoder.fc_out.bias"}
  assert "missing key 'decoder.fc_out.bias' (for Flax decoder/fc_out/bias, shape (21))" in error(
    missing
  )
  extra = dict(sd, **{"decoder.extra.weight": torch.zeros(2)})
  msg = error(extra)
  assert "unexpected key 'decoder.extra.weight'" in msg and "missing" not in msg
  renamed = {k.replace("fc_out", "out"): v for k, v in sd.items()}
  msg = error(renamed)
  assert "missing key 'decoder.fc_out." in msg and "unexpected key 'decoder.out." in msg
  msg = error(sd, ff=48)
  assert (
    "wrong shape: 'encoder.layers.0.positionwise_feedforward.fc_1.weight' has shape "
    "(64, 32), the model needs (48, 32) (Flax encoder/layers_0/positionwise_feedforward/"
    "fc_1/kernel) (and 11 more)"
  ) in msg
  msg = error(sd, shared_layer_norm=False)
  assert re.search(r"missing key '(en|de)coder\.layers\.0\.\w+_layer_norm\.(weight|bias)'", msg)
  assert "unexpected key 'encoder.layers.0.layer_norm.weight'" in msg
  torch.save(trained["model"], tmp_path / "whole_module.pt")  # not a state_dict
  with pytest.raises(CheckpointError, match=r"torch.save\(model.state_dict\(\), path\)"):
    load_state_dict(tmp_path / "whole_module.pt")


def test_vocabulary_files(tmp_path):
  path = tmp_path / "v.txt"
  path.write_text("<unk>\n<pad>\n<sos>\n<eos>\nein\nmann\n")  # torchtext's itos
  v = read_vocab_file(path)
  assert (v.unk_id, v.pad_id, v.bos_id, v.eos_id, v.id("mann"), len(v)) == (0, 1, 2, 3, 5, 6)
  path.write_text("SOS\nEOS\nje\n")  # the RNN tutorials' Lang: no pad, no unk
  v = read_vocab_file(path)
  assert (v.bos_id, v.eos_id, v.pad_id, v.unk) == (0, 1, 1, None)
  path.write_text("<pad>\n[BOS]\n</s>\n<unk>\n")
  with pytest.raises(DataError, match="no bos token.*--bos_token"):
    read_vocab_file(path)
  assert read_vocab_file(path, {"bos": "[BOS]"}).bos_id == 1
  with pytest.raises(DataError, match="no bos token '<s>'"):
    read_vocab_file(path, {"bos": "<s>"})
  path.write_text("<unk>\n<pad>\n<sos>\n<eos>\nein\n\nmann\n")
  with pytest.raises(DataError, match=r"v.txt:6: empty token"):
    read_vocab_file(path)
  path.write_text("<unk>\n<pad>\n<sos>\n<eos>\nein\nein\n")
  with pytest.raises(DataError, match=r"v.txt:6: token 'ein' repeats line 5"):
    read_vocab_file(path)


def test_the_package_works_without_torch(tmp_path):
  np.savez(tmp_path / "sd.npz", w=np.ones(2, np.float32))
  (tmp_path / "sd.pt").write_bytes(b"")
  code = (
    "import sys; sys.modules['torch'] = None\n"
    "import seq2seq_jax.interop, seq2seq_jax.interop.__main__, seq2seq_jax.tasks.translation\n"
    "from seq2seq_jax.interop.torch_import import load_state_dict\n"
    "from seq2seq_jax.errors import UserError\n"
    f"assert list(load_state_dict({str(tmp_path / 'sd.npz')!r})) == ['w']\n"
    "try:\n"
    f"  load_state_dict({str(tmp_path / 'sd.pt')!r})\n"
    "except UserError as e:\n"
    "  print(e)\n"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "needs PyTorch: `pip install torch==2.13.0`" in proc.stdout


# ---------------------------------------------------------------- the import command line


def test_import_command_line_end_to_end(trained, tmp_path):
  """.pt + vocabulary files -> a work directory whose --mode=translate greedy lines are the
  PyTorch model's translate_sentence outputs, token for token."""
  d, workdir = trained["dir"], tmp_path / "imported"
  proc = run_module(
    "seq2seq_jax.interop",
    "--config=configs/transformer.py",
    *CLI_MODEL,
    f"--state_dict={d / 'model.pt'}",
    f"--src_vocab={d / 'src.txt'}",
    f"--tgt_vocab={d / 'tgt.txt'}",
    f"--workdir={workdir}",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"imported {tm.count_parameters(trained['model']):,} parameters" in proc.stderr
  for name in ("config.json", "vocab_src.json", "vocab_tgt.json", "params.txt"):
    assert (workdir / name).exists(), name

  sentences = [s for s, _ in reverse_pairs(np.random.default_rng(2), 8)]
  proc = run_module(
    "seq2seq_jax.main",
    "--mode=translate",
    f"--workdir={workdir}",
    "--config=configs/transformer.py",
    "--config.decode.beam_size=1",
    "--config.decode.nbest=1",
    "--config.decode.max_len=20",
    *[" ".join(s) for s in sentences],
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[0::2] == [f"> {' '.join(s)}" for s in sentences]
  ours = [line.split(" ", 2)[2] for line in lines[1::2]]
  assert all(line.startswith("0 -") for line in lines[1::2])
  theirs = [
    " ".join(
      TGT_TOKENS[i]
      for i in tm.translate_sentence(trained["model"], src_ids(s), BOS, EOS, max_len=20)
      if i != EOS
    )
    for s in sentences
  ]
  assert ours == theirs


def test_import_names_a_vocabulary_that_does_not_fit(trained, tmp_path):
  d = trained["dir"]
  (tmp_path / "short.txt").write_text("\n".join(TGT_TOKENS[:-1]) + "\n")
  config = load_config("transformer")
  config.model.update(hid=32, enc_layers=2, dec_layers=2, heads=4, ff=64, max_len=32)
  with pytest.raises(CheckpointError) as e:
    import_run(
      config,
      tmp_path / "w",
      str(d / "model.pt"),
      str(d / "src.txt"),
      str(tmp_path / "short.txt"),
      {},
    )
  assert (
    "wrong shape: 'decoder.tok_embedding.weight' has shape (21, 32), the model needs (20, 32)"
  ) in str(e.value)
  assert "The vocabulary files give 20 source and 20 target tokens." in str(e.value)
  assert not (tmp_path / "w").exists()


def test_import_refuses_an_existing_run_and_missing_inputs(tmp_path):
  config = load_config("transformer")
  (tmp_path / "checkpoints").mkdir()
  with pytest.raises(UserError, match="already holds checkpoints"):
    import_run(config, tmp_path, "m.pt", "s.txt", "t.txt", {})
  with pytest.raises(UserError, match="missing --src_vocab, --workdir"):
    import_run(config, None, "m.pt", None, "t.txt", {})
