"""The char-RNN classifier against its PyTorch reference (interop/torch_classifier.py):
initialisers, the import command line and the importer's checks (outputs and gradients:
test_parity_rnn_models.py's `classifier:` cases)."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy.stats")

from seq2seq_jax.data.sources.names import NAME_LETTERS  # noqa: E402
from seq2seq_jax.errors import CheckpointError, DataError, UserError  # noqa: E402
from seq2seq_jax.interop import torch_classifier  # noqa: E402
from seq2seq_jax.interop.__main__ import run as import_run  # noqa: E402
from seq2seq_jax.interop.torch_import import CHAR_RNN, export_state_dict  # noqa: E402
from seq2seq_jax.models.classifier import CharClassifier  # noqa: E402
from tests.conftest import ROOT, load_config  # noqa: E402
from tests.torch_helpers import check_init, rnn_expected_init, run_module  # noqa: E402

torch.set_num_threads(1)  # tiny models; torch's threads would only fight XLA's


@pytest.mark.parametrize(
  "cell,switches",
  [("tutorial", dict()), ("gru", dict(num_layers=2, bidirectional=True, input="embed"))],
  ids=["tutorial_cell", "bigru_embed"],
)
def test_classifier_initialisers_follow_pytorch(cell, switches):
  kw = dict(num_classes=18, hidden=64, embed_dim=64, **switches)
  torch.manual_seed(0)
  ref = torch_classifier.RNN(
    57,
    64,
    18,
    cell=cell,
    num_layers=kw.get("num_layers", 1),
    bidirectional=kw.get("bidirectional", False),
    embed_size=64 if kw.get("input") == "embed" else 0,
  )
  model = CharClassifier(cell=cell, **kw)
  chars = np.ones((1, 4), np.int32)
  ours = export_state_dict(jax.jit(model.init)(jax.random.key(0), chars, np.array([4])), CHAR_RNN)
  check_init(ours, {k: v.numpy() for k, v in ref.state_dict().items()}, rnn_expected_init(ref))


LANGUAGES = sorted(p.stem for p in (ROOT / ".." / "shared" / "data" / "names").glob("*.txt"))


def name_tensor(name):
  """The tutorial's name_to_tensor: [len, 1, 57] one-hot."""
  return torch.eye(len(NAME_LETTERS))[[NAME_LETTERS.index(c) for c in name]][:, None]


@pytest.mark.skipif(len(LANGUAGES) != 18, reason="needs the names data (../shared/data/names)")
def test_import_command_line_classifier(tmp_path):
  """The tutorial's RNN (i2h, i2o) with labels in the tutorial's own (not sorted) order ->
  predict gives its top 3; evaluate runs on the dataset's test split; a wrong label
  count is one `error:` line."""
  torch.manual_seed(0)
  ref = torch_classifier.RNN(len(NAME_LETTERS), 16, 18)
  with torch.no_grad():
    for p in ref.parameters():
      p.mul_(4.0)  # spread the scores
  labels = LANGUAGES[::-1]
  torch.save(ref.state_dict(), tmp_path / "char-rnn.pt")
  (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
  workdir = tmp_path / "run"
  common = [
    "--config=configs/char_rnn.py:tutorial",
    "--config.model.hidden=16",
    f"--state_dict={tmp_path / 'char-rnn.pt'}",
  ]
  proc = run_module(
    "seq2seq_jax.interop", *common, f"--labels={tmp_path / 'labels.txt'}", f"--workdir={workdir}"
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  names = ["Hinton", "Schmidhuber", "Nakamura", "Dostoevsky"]
  proc = run_module("seq2seq_jax.main", "--mode=predict", f"--workdir={workdir}", *names)
  assert proc.returncode == 0, proc.stderr[-3000:]
  ours = [line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("(")]
  with torch.no_grad():
    theirs = [labels[i] for n in names for i in ref.classify(name_tensor(n))[0].topk(3)[1]]
  assert ours == theirs
  proc = run_module("seq2seq_jax.main", "--mode=evaluate", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "test: top-1" in proc.stderr

  (tmp_path / "17.txt").write_text("\n".join(labels[:-1]) + "\n")
  proc = run_module(
    "seq2seq_jax.interop",
    *common,
    f"--labels={tmp_path / '17.txt'}",
    f"--workdir={tmp_path / 'run17'}",
  )
  assert proc.returncode == 2
  assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
  assert "wrong shape: 'i2o.weight' has shape (18, 73), the model needs (17, 73)" in proc.stderr
  assert "The labels file gives 17 labels." in proc.stderr


def test_import_classifier_bad_inputs(tmp_path):
  config = load_config("char_rnn", "tutorial")
  config.model.hidden = 16
  torch.manual_seed(0)
  ref = torch_classifier.RNN(len(NAME_LETTERS), 16, 18)
  sd = {k: v.numpy() for k, v in ref.state_dict().items()}
  np.savez(tmp_path / "sd.npz", **sd)
  labels = tmp_path / "labels.txt"
  labels.write_text("\n".join(LANGUAGES or [f"L{i}" for i in range(18)]) + "\n")
  with pytest.raises(UserError, match="missing --labels"):
    import_run(config, tmp_path / "w", str(tmp_path / "sd.npz"), None, None, {})
  with pytest.raises(UserError, match="takes --labels, not --src_vocab"):
    import_run(
      config, tmp_path / "w", str(tmp_path / "sd.npz"), "s.txt", None, {}, labels=str(labels)
    )
  labels.write_text("Arabic\nChinese\nArabic\n")
  with pytest.raises(DataError, match=r"labels.txt:3: label 'Arabic' repeats line 1"):
    import_run(config, tmp_path / "w", str(tmp_path / "sd.npz"), None, None, {}, labels=str(labels))
  if LANGUAGES:  # the names data is there: the labels must cover its languages
    labels.write_text("\n".join(["Klingon"] + LANGUAGES[1:]) + "\n")
    with pytest.raises(DataError, match=r"labels file lacks the dataset's label\(s\) Arabic"):
      import_run(
        config, tmp_path / "w", str(tmp_path / "sd.npz"), None, None, {}, labels=str(labels)
      )
  np.savez(tmp_path / "gru.npz", **{k.replace("i2o", "h2o"): v for k, v in sd.items()})
  labels.write_text("\n".join(f"L{i}" for i in range(18)) + "\n")
  config.data.dir = str(tmp_path / "no_data")  # labels only: predict works, evaluate refuses
  with pytest.raises(CheckpointError, match="missing key 'i2o.bias'.*unexpected key 'h2o.weight'"):
    import_run(
      config, tmp_path / "w", str(tmp_path / "gru.npz"), None, None, {}, labels=str(labels)
    )
  import_run(config, tmp_path / "w", str(tmp_path / "sd.npz"), None, None, {}, labels=str(labels))
  from seq2seq_jax.tasks import classification

  with pytest.raises(DataError, match="imported without its dataset"):
    classification.build_task(config, tmp_path / "w")
