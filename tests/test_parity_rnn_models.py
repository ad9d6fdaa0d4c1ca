"""The RNN translators and the char-RNN classifier against their PyTorch references
(interop/torch_rnn_models.py): outputs, gradients, greedy decodes, initialisers, the
importer's checks and the import command line."""

import dataclasses
import re

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from seq2seq_jax import decoding  # noqa: E402
from seq2seq_jax.errors import CheckpointError, UserError  # noqa: E402
from seq2seq_jax.interop import parity  # noqa: E402
from seq2seq_jax.interop import torch_rnn_models as trm  # noqa: E402
from seq2seq_jax.interop.__main__ import run as import_run  # noqa: E402
from seq2seq_jax.interop.torch_import import (  # noqa: E402
  abstract_variables,
  export_state_dict,
  import_state_dict,
  join_state_dicts,
  rnn_seq2seq_mapping,
)
from seq2seq_jax.models.rnn_seq2seq import RNNSeq2Seq  # noqa: E402
from tests.conftest import load_config  # noqa: E402
from tests.torch_helpers import (  # noqa: E402
  assert_parity_case,
  check_init,
  decode_padded,
  rnn_expected_init,
  run_module,
)

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
  assert_parity_case(case)


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
  out = decode_padded(
    decoding.greedy_search,
    RNNSeq2Seq(cfg),
    variables,
    ids,
    10,
    EOS,
    max_len=max_len,
    bos_id=SOS,
    eos_id=EOS,
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
  out = decode_padded(
    decoding.beam_search,
    RNNSeq2Seq(cfg),
    variables,
    ids,
    10,
    EOS,
    max_len=10,
    bos_id=SOS,
    eos_id=EOS,
    beam_size=4,
    alpha=alpha,
  )
  for b, i in enumerate(ids):
    theirs = ref.beam_search(i, SOS, EOS, 10, beam_size=4, alpha=alpha)
    assert [out["tokens"][b, k, : out["lengths"][b, k]].tolist() for k in range(4)] == [
      h[0] for h in theirs
    ]
    np.testing.assert_allclose(out["logprob"][b], [h[1] for h in theirs], atol=1e-4)
    np.testing.assert_allclose(out["score"][b], [h[2] for h in theirs], atol=1e-4)


# ---------------------------------------------------------------- initialisers


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
  check_init(ours, {k: v.numpy() for k, v in ref.state_dict().items()}, rnn_expected_init(ref))


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
