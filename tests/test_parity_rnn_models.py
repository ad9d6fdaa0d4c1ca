"""The RNN translators and the char-RNN classifier against their PyTorch references
(interop/torch_rnn_models.py): outputs, gradients, greedy decodes, initialisers, the
importer's checks and the import command line."""

import collections
import dataclasses
import math
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from seq2seq_jax import decoding  # noqa: E402
from seq2seq_jax.data.registry import NAME_LETTERS  # noqa: E402
from seq2seq_jax.errors import CheckpointError, DataError, UserError  # noqa: E402
from seq2seq_jax.interop import parity, torch_classifier  # noqa: E402
from seq2seq_jax.interop import torch_rnn_models as trm  # noqa: E402
from seq2seq_jax.interop.__main__ import run as import_run  # noqa: E402
from seq2seq_jax.interop.torch_import import (  # noqa: E402
  CHAR_RNN,
  abstract_variables,
  export_state_dict,
  import_state_dict,
  join_state_dicts,
  rnn_seq2seq_mapping,
)
from seq2seq_jax.models.classifier import CharClassifier  # noqa: E402
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq  # noqa: E402
from tests.conftest import ROOT, load_config  # noqa: E402

torch.set_num_threads(1)  # tiny models; torch's threads would only fight XLA's

CASES = [c for c in parity.CASES if c.startswith(("rnn:", "classifier:"))]
SOS, EOS = 0, 1  # the seq2seq tutorial's Lang
WORDS = list("abcdefghijklmnop")
SRC_TOKENS = ["SOS", "EOS"] + WORDS
TGT_TOKENS = ["SOS", "EOS"] + [w.upper() for w in WORDS] + ["X"]


@pytest.mark.parametrize("case", CASES)
def test_outputs_and_gradients_match_pytorch(case):
  """Padded batch (sources 7, 4, 2 tokens; names 6, 3, 1 letters) against the reference
  run one example at a time; eval mode (dropout 0.1 off) and train mode with dropout 0."""
  diffs = parity.CASES[case]()
  for mode in parity.MODES:
    assert diffs[mode].outputs <= parity.OUTPUT_TOL, (mode, diffs[mode])
    assert diffs[mode].grads <= parity.GRAD_TOL, (mode, diffs[mode])


def flax_translator(cfg, state_dict):
  model = RNNSeq2Seq(cfg)
  ones = np.ones((1, 4), np.int32)
  target = abstract_variables(model, ones, np.array([4], np.int32), ones)
  return model, import_state_dict(state_dict, rnn_seq2seq_mapping(dataclasses.asdict(cfg)), target)


def test_masked_attention_is_not_the_tutorials_function():
  """The same tutorial weights in fixed_slots=source (the default) give other log-probs:
  the switch matters, and the parity check sees a wrong model."""
  cfg = parity.tiny_rnn_seq2seq_config()
  torch.manual_seed(0)
  ref = trm.build_translator(cfg)
  ref.eval()
  src, tgt_in = [5, 6, 7, EOS], [SOS, 4, 5]
  with torch.no_grad():
    theirs = ref(src, tgt_in)[0].numpy()
  for slots, close in (("all", True), ("source", False)):
    model, variables = flax_translator(
      dataclasses.replace(cfg, fixed_slots=slots), ref.state_dict()
    )
    logits, _ = model.apply(variables, np.array([src]), np.array([4]), np.array([tgt_in]))
    diff = np.abs(np.asarray(jax.nn.log_softmax(logits))[0] - theirs).max()
    assert (diff < 1e-5) if close else (diff > 1e-3), (slots, diff)


# ---------------------------------------------------------------- greedy decodes


def reverse_pairs(rng, n):
  """Toy task: lower-case words -> the same words upper-cased, in reverse order."""
  out = []
  for _ in range(n):
    words = list(rng.choice(WORDS, rng.integers(2, 6)))
    out.append((words, [w.upper() for w in reversed(words)]))
  return out


def src_ids(words):
  return [SRC_TOKENS.index(w) for w in words] + [EOS]  # the tutorial's tensorFromSentence


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """The tutorial's encoder + attention decoder (hidden 32, max_length 10) trained a little
  with its own per-pair loop, saved as the tutorial user has it: two state_dicts."""
  cfg = parity.tiny_rnn_seq2seq_config(
    src_vocab_size=len(SRC_TOKENS),
    tgt_vocab_size=len(TGT_TOKENS),
    embed=32,
    hidden=32,
    max_length=10,
  )
  torch.manual_seed(0)
  model = trm.build_translator(cfg)
  optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
  rng = np.random.default_rng(0)
  for s, t in reverse_pairs(rng, 300):
    trm.train_pair(model, optimizer, src_ids(s), [SOS] + [TGT_TOKENS.index(w) for w in t] + [EOS])
  model.eval()
  d = tmp_path_factory.mktemp("torch_rnn")
  torch.save(model.encoder.state_dict(), d / "encoder.pt")
  torch.save(model.decoder.state_dict(), d / "decoder.pt")
  (d / "src.txt").write_text("\n".join(SRC_TOKENS) + "\n")
  (d / "tgt.txt").write_text("\n".join(TGT_TOKENS) + "\n")
  return dict(cfg=cfg, model=model, dir=d)


def greedy_both(cfg, ref, sentences, max_len=10):
  """JAX greedy_search on one padded batch vs the reference's greedy, per sentence."""
  _, variables = flax_translator(cfg, ref.state_dict())
  ids = [src_ids(s) for s in sentences]
  src = np.full((len(ids), 10), EOS, np.int32)  # padded past the longest, as a bucket does
  for row, i in enumerate(ids):
    src[row, : len(i)] = i
  out = jax.device_get(
    decoding.greedy_search(
      RNNSeq2Seq(cfg),
      variables,
      src,
      np.array([len(i) for i in ids], np.int32),
      max_len=max_len,
      bos_id=SOS,
      eos_id=EOS,
    )
  )
  ours = [out["tokens"][b, : out["lengths"][b]].tolist() for b in range(len(ids))]
  return ours, [ref.greedy(i, SOS, EOS, max_len) for i in ids]


def test_imported_greedy_decodes_equal_pytorch_token_for_token(trained):
  sentences = [s for s, _ in reverse_pairs(np.random.default_rng(1), 12)]
  ours, theirs = greedy_both(trained["cfg"], trained["model"], sentences)
  assert ours == theirs
  assert sum(t[-1] == EOS for t in theirs) >= 8 and len({tuple(t) for t in theirs}) >= 8


OTHER_TRANSLATORS = {
  "plain": dict(attention="none", dropout=0.0),
  "bigru": dict(bidirectional=True, attention="additive", bridge="tanh", max_length=0),
  "lstm": dict(cell="lstm", attention="none", dropout=0.0),
}


def random_translator(name: str):
  """-> (cfg, reference) of OTHER_TRANSLATORS[name] with random weights, scaled up so that
  the argmax varies from step to step."""
  cfg = parity.tiny_rnn_seq2seq_config(
    src_vocab_size=len(SRC_TOKENS),
    tgt_vocab_size=len(TGT_TOKENS),
    embed=16,
    hidden=16,
    **OTHER_TRANSLATORS[name],
  )
  torch.manual_seed(1)
  ref = trm.build_translator(cfg).eval()
  with torch.no_grad():
    for p in ref.parameters():
      p.mul_(3.0)
  return cfg, ref


@pytest.mark.parametrize("name", ["plain", "bigru"])
def test_greedy_decodes_of_the_other_translators(name):
  cfg, ref = random_translator(name)
  ours, theirs = greedy_both(cfg, ref, [s for s, _ in reverse_pairs(np.random.default_rng(2), 8)])
  assert ours == theirs
  assert len({tuple(t) for t in theirs}) >= 4


# ---------------------------------------------------------------- beam search


@pytest.fixture(scope="module", params=["trained", *OTHER_TRANSLATORS])
def translator(request):
  """-> (cfg, reference): the trained attention translator, or a `random_translator`."""
  if request.param == "trained":
    trained = request.getfixturevalue("trained")
    return trained["cfg"], trained["model"]
  return random_translator(request.param)


def teacher_forced_logprob(ref, src, ids):
  """The model's own log-probability of the generated ids, teacher-forced."""
  with torch.no_grad():
    logps, _ = ref(src, [SOS] + ids[:-1])
  return logps[torch.arange(len(ids)), torch.tensor(ids)].sum().item()


def test_reference_beam_search_scores_its_hypotheses_by_the_model(translator):
  """Beam 1 with an <eos> the model cannot emit is the argmax path (greedy's); beam 4's
  hypotheses are distinct, best first, scored by their teacher-forced log-probs, and the
  best finished one is at least as likely as a greedy translation that ends in <eos>."""
  _, ref = translator
  for words, _ in reverse_pairs(np.random.default_rng(4), 8):
    i = src_ids(words)
    assert ref.beam_search(i, SOS, -1, 8, beam_size=1)[0][0] == ref.greedy(i, SOS, -1, 8)
    hyps = ref.beam_search(i, SOS, EOS, 10, beam_size=4)
    assert len(hyps) == 4 and len({tuple(h[0]) for h in hyps}) == 4
    for ids, logprob, score in hyps:
      assert logprob == score  # alpha 0
      np.testing.assert_allclose(logprob, teacher_forced_logprob(ref, i, ids), atol=1e-4)
    # Finished hypotheses first, each part best first.
    ranks = [(h[0][-1] != EOS, -h[2]) for h in hyps]
    assert ranks == sorted(ranks)
    greedy = ref.greedy(i, SOS, EOS, 10)
    if greedy[-1] == EOS:
      assert hyps[0][1] >= teacher_forced_logprob(ref, i, greedy) - 1e-5


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_reference_beam_search_equals_seq2seq_jax(translator, alpha):
  """The same weights: decoding.beam_search on one padded batch returns, for each sentence,
  the reference's K hypotheses token for token, in the same order, with the same scores."""
  cfg, ref = translator
  _, variables = flax_translator(cfg, ref.state_dict())
  ids = [src_ids(s) for s, _ in reverse_pairs(np.random.default_rng(5), 8)]
  src = np.full((len(ids), 10), EOS, np.int32)
  for row, i in enumerate(ids):
    src[row, : len(i)] = i
  out = jax.device_get(
    decoding.beam_search(
      RNNSeq2Seq(cfg),
      variables,
      src,
      np.array([len(i) for i in ids], np.int32),
      max_len=10,
      bos_id=SOS,
      eos_id=EOS,
      beam_size=4,
      alpha=alpha,
    )
  )
  for b, i in enumerate(ids):
    theirs = ref.beam_search(i, SOS, EOS, 10, beam_size=4, alpha=alpha)
    assert [out["tokens"][b, k, : out["lengths"][b, k]].tolist() for k in range(4)] == [
      h[0] for h in theirs
    ]
    np.testing.assert_allclose(out["logprob"][b], [h[1] for h in theirs], atol=1e-4)
    np.testing.assert_allclose(out["score"][b], [h[2] for h in theirs], atol=1e-4)


# ---------------------------------------------------------------- initialisers


def expected_init(module: torch.nn.Module) -> dict[str, tuple[str, float]]:
  """state_dict key -> ("normal", 1) for nn.Embedding, ("uniform", 1/sqrt(fan_in)) for
  nn.Linear weights and biases, ("uniform", 1/sqrt(hidden)) for nn.RNN/GRU/LSTM."""
  out = {}
  for name, m in module.named_modules():
    prefix = f"{name}." if name else ""
    if isinstance(m, torch.nn.Embedding):
      out[f"{prefix}weight"] = ("normal", 1.0)
    elif isinstance(m, torch.nn.Linear):
      for k, _ in m.named_parameters():
        out[prefix + k] = ("uniform", 1.0 / math.sqrt(m.in_features))
    elif isinstance(m, torch.nn.RNNBase):
      for k, _ in m.named_parameters():
        out[prefix + k] = ("uniform", 1.0 / math.sqrt(m.hidden_size))
  return out


def check_init(ours: dict, theirs: dict, expected: dict) -> None:
  assert ours.keys() == theirs.keys() == expected.keys()
  pooled = collections.defaultdict(lambda: ([], []))
  for key, (kind, scale) in expected.items():
    if kind == "uniform":
      for values in (ours[key], theirs[key]):
        assert np.abs(values).max() <= scale, key
    pooled[kind][0].append(ours[key].ravel() / scale)
    pooled[kind][1].append(theirs[key].ravel() / scale)
  dist = {"uniform": ("uniform", (-1, 2)), "normal": ("norm", (0, 1))}
  for kind, (a, b) in pooled.items():
    a, b = np.concatenate(a), np.concatenate(b)
    assert a.size > 2000, kind
    assert stats.kstest(a, dist[kind][0], dist[kind][1]).pvalue > 1e-3, kind
    assert stats.kstest(b, dist[kind][0], dist[kind][1]).pvalue > 1e-3, kind
    assert stats.ks_2samp(a, b).pvalue > 1e-3, kind
    # The same test rejects a scale 20% off by far.
    assert stats.kstest(a / 1.2, dist[kind][0], dist[kind][1]).pvalue < 1e-6, kind


@pytest.mark.parametrize(
  "switches",
  [dict(), dict(bidirectional=True, attention="additive", bridge="tanh", max_length=0)],
  ids=["tutorial_attention", "bigru"],
)
def test_translator_initialisers_follow_pytorch(switches):
  cfg = parity.tiny_rnn_seq2seq_config(
    **{**dict(src_vocab_size=40, tgt_vocab_size=30, embed=48, hidden=48, max_length=10), **switches}
  )
  torch.manual_seed(0)
  ref = trm.build_translator(cfg)
  ones = np.ones((1, 4), np.int32)
  variables = jax.jit(RNNSeq2Seq(cfg).init)(jax.random.key(0), ones, np.array([4]), ones)
  ours = export_state_dict(variables, rnn_seq2seq_mapping(dataclasses.asdict(cfg)))
  check_init(ours, {k: v.numpy() for k, v in ref.state_dict().items()}, expected_init(ref))


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
  check_init(ours, {k: v.numpy() for k, v in ref.state_dict().items()}, expected_init(ref))


# ---------------------------------------------------------------- the importer


def test_importer_joins_two_files_and_names_the_first_mismatch(trained, tmp_path):
  cfg, d = trained["cfg"], trained["dir"]
  joined = join_state_dicts(encoder=d / "encoder.pt", decoder=d / "decoder.pt")
  assert joined.keys() == trained["model"].state_dict().keys()
  assert "encoder.gru.weight_ih_l0" in joined and "decoder.attn_combine.bias" in joined
  _, variables = flax_translator(cfg, joined)
  np.testing.assert_array_equal(
    variables["params"]["attention"]["attn"]["kernel"], joined["decoder.attn.weight"].T
  )

  def error(state_dict, **changes):
    with pytest.raises(CheckpointError) as e:
      flax_translator(dataclasses.replace(cfg, **changes), state_dict)
    return str(e.value)

  missing = {k: v for k, v in joined.items() if k != "decoder.attn.bias"}
  assert "missing key 'decoder.attn.bias' (for Flax attention/attn/bias, shape (10))" in error(
    missing
  )
  assert "wrong shape: 'decoder.attn.weight' has shape (10, 64), the model needs (12, 64)" in error(
    joined, max_length=12
  )
  msg = error(joined, cell="lstm")
  assert re.search(r"missing key '(en|de)coder\.lstm\.(weight|bias)_(ih|hh)_l0'", msg), msg
  assert "unexpected key 'encoder.gru.weight_ih_l0'" in msg
  msg = error(dict(joined, **{"decoder.softmax.weight": np.zeros(2)}))
  assert "unexpected key 'decoder.softmax.weight'" in msg and "missing" not in msg


# ---------------------------------------------------------------- the import command line


def run_module(module, *args):
  return subprocess.run(
    [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, timeout=600
  )


def test_import_command_line_translator(trained, tmp_path):
  """The tutorial's two files + its vocabularies -> a work directory whose greedy
  --mode=translate lines are the tutorial's evaluate() outputs, token for token."""
  d, workdir, cfg = trained["dir"], tmp_path / "imported", trained["cfg"]
  proc = run_module(
    "seq2seq_jax.interop",
    "--config=configs/gru_attention.py",
    f"--config.model.embed={cfg.embed}",
    f"--config.model.hidden={cfg.hidden}",
    "--config.model.fixed_slots=all",
    f"--encoder_state_dict={d / 'encoder.pt'}",
    f"--decoder_state_dict={d / 'decoder.pt'}",
    f"--src_vocab={d / 'src.txt'}",
    f"--tgt_vocab={d / 'tgt.txt'}",
    f"--workdir={workdir}",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "imported" in proc.stderr and "fixed_slots" not in proc.stderr
  sentences = [s for s, _ in reverse_pairs(np.random.default_rng(3), 6)]
  proc = run_module(
    "seq2seq_jax.main",
    "--mode=translate",
    f"--workdir={workdir}",
    "--config=configs/gru_attention.py",
    "--config.decode.beam_size=1",
    "--config.decode.nbest=1",
    *[" ".join(s) for s in sentences],
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[0::2] == [f"> {' '.join(s)}" for s in sentences]
  theirs = [
    " ".join(TGT_TOKENS[i] for i in trained["model"].greedy(src_ids(s), SOS, EOS, 10) if i != EOS)
    for s in sentences
  ]
  assert [line.split(" ", 2)[2] for line in lines[1::2]] == theirs


def test_import_translator_bad_inputs(trained, tmp_path):
  d = trained["dir"]
  config = load_config("gru_attention")
  config.model.update(embed=32, hidden=32, fixed_slots="all")
  args = (str(d / "src.txt"), str(d / "tgt.txt"), {})
  with pytest.raises(UserError, match="--encoder_state_dict and --decoder_state_dict go together"):
    import_run(config, tmp_path / "w", None, *args, encoder_state_dict=str(d / "encoder.pt"))
  (tmp_path / "short.txt").write_text("\n".join(TGT_TOKENS[:-1]) + "\n")
  with pytest.raises(CheckpointError) as e:
    import_run(
      config,
      tmp_path / "w",
      None,
      args[0],
      str(tmp_path / "short.txt"),
      {},
      encoder_state_dict=str(d / "encoder.pt"),
      decoder_state_dict=str(d / "decoder.pt"),
    )
  assert (
    "wrong shape: 'decoder.embedding.weight' has shape (19, 32), the model needs (18, 32)"
    in str(e.value)
  ) and "The vocabulary files give 18 source and 18 target" in str(e.value)
  with pytest.raises(CheckpointError, match="missing key.*unexpected key .embedding.weight."):
    import_run(config, tmp_path / "w", str(d / "decoder.pt"), *args)  # one part only
  assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------- the classifier


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
