"""data.tokenizer=sentencepiece (data/subwords.py): subword vocabularies that round-trip
text, trained once per training text and settings (cached atomically), saved in the run
directory so translate needs no dataset, and BLEU 13a on the detokenised text."""

import json
import logging
import shutil

import pytest
import sacrebleu

from seq2seq_jax import metrics
from seq2seq_jax.config.data import SUBWORDS, data_config
from seq2seq_jax.config.validate import validate
from seq2seq_jax.data import subwords
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.errors import ConfigError, DataError
from seq2seq_jax.rundir import check_compatible, copy_run_files
from seq2seq_jax.sweep import report
from seq2seq_jax.tasks import translation
from tests.conftest import assert_user_error, cli, load_config, tiny_flags

DE = "der die ein eine hund katze mann frau läuft springt über straße wiese am fluss".split()
EN = "the a dog cat man woman runs jumps over street meadow by river".split()


def corpus(n: int = 300, salt: str = "") -> list[tuple[list[str], list[str]]]:
  """`n` generated word pairs (a few words each, some with punctuation and capitals)."""
  pick = lambda words, i, k: [words[(i * 7 + j * 3) % len(words)] for j in range(k)]
  out = []
  for i in range(n):
    k = 2 + i % 5
    de, en = pick(DE, i, k), pick(EN, i, k)
    if i % 3 == 0:
      de, en = [de[0].capitalize(), *de[1:], "."], [en[0].capitalize(), *en[1:], "."]
    out.append((de + ([salt] if salt and i == 0 else []), en))
  return out


def block(tmp_path, **changes):
  keys = dict(tokenizer="sentencepiece", vocab_size=60, cache_dir=str(tmp_path))
  return data_config("multi30k", **{**keys, **changes})


@pytest.fixture
def trainings(monkeypatch):
  """The settings of each sentencepiece training from here on."""
  calls, train = [], subwords.train
  monkeypatch.setattr(subwords, "train", lambda s, it: calls.append(s) or train(s, it))
  return calls


def test_pieces_round_trip_text_and_keep_sentencepiece_ids(tmp_path):
  src, tgt = subwords.vocabs(block(tmp_path), corpus())
  assert src == tgt and len(src) == 60  # shared: one model, vocab_size pieces
  assert src.tokens[:4] == ("<unk>", "<pad>", "<sos>", "<eos>")
  assert (src.unk_id, src.pad_id, src.bos_id, src.eos_id) == (0, 1, 2, 3)
  pieces = subwords.processor(src.model)
  for words in (["Der", "hund", "läuft", "über", "die", "straße", "."], ["a", "cat"]):
    ids, oov = src.encode(words)
    assert oov == [] and len(ids) > len(words)  # subwords
    assert ids == pieces.encode(" ".join(words))  # the model's own ids
    assert src.decode(ids + [src.eos_id, 7]) == words  # up to <eos>, detokenised
  _, oov = src.encode(["Ж"])  # a character the training text lacks: <unk>, reported
  assert oov == ["Ж"]


def test_separate_vocabularies_and_bpe(tmp_path, trainings):
  src, tgt = subwords.vocabs(block(tmp_path, shared_vocab=False, spm_model="bpe"), corpus())
  assert [s.model_type for s in trainings] == ["bpe", "bpe"] and src != tgt
  assert "▁läuft" in src.tokens and "▁läuft" not in tgt.tokens


def test_the_cache_serves_the_same_text_and_settings_and_trains_for_changed_ones(
  tmp_path, trainings
):
  first = subwords.vocabs(block(tmp_path), corpus())
  assert subwords.vocabs(block(tmp_path), corpus()) == first and len(trainings) == 1
  subwords.vocabs(block(tmp_path), corpus(salt="neu"))  # one training sentence changed
  subwords.vocabs(block(tmp_path, vocab_size=50), corpus())
  subwords.vocabs(block(tmp_path, spm_model="bpe"), corpus())
  assert [s.vocab_size for s in trainings] == [60, 60, 50, 60]
  assert len(list((tmp_path / "sentencepiece").glob("*.model"))) == 4


def test_an_interrupted_training_leaves_nothing_trusted(tmp_path, trainings, monkeypatch, caplog):
  def killed(*_):
    raise KeyboardInterrupt  # the process dies between writing the model and renaming it

  with monkeypatch.context() as m:
    m.setattr(subwords.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
      subwords.vocabs(block(tmp_path), corpus())
  cache = tmp_path / "sentencepiece"
  assert list(cache.glob("*.model")) == [] and len(list(cache.glob(".*.tmp"))) == 1
  vocab, _ = subwords.vocabs(block(tmp_path), corpus())  # trained again, complete
  assert len(trainings) == 2 and len(vocab) == 60
  (path,) = cache.glob("*.model")
  path.write_bytes(path.read_bytes()[:100])  # a damaged cache file (disk fault)
  with caplog.at_level(logging.WARNING, "seq2seq_jax"):
    assert subwords.vocabs(block(tmp_path), corpus())[0] == vocab
  assert len(trainings) == 3 and "damaged" in caplog.text


def test_a_vocabulary_too_large_for_the_text_and_other_specials_are_config_errors(tmp_path):
  with pytest.raises(ConfigError, match=r"data\.vocab_size=5000 is more than .*\(at most \d+\)"):
    subwords.vocabs(block(tmp_path, vocab_size=5000), corpus())
  c = load_config("transformer")
  c.data.update(tokenizer="sentencepiece", specials="tutorial")
  with pytest.raises(ConfigError, match=r"^data\.specials='tutorial' must be torchtext with "):
    validate(c)


def test_the_saved_vocabulary_holds_its_model_and_refuses_a_damaged_one(tmp_path):
  vocab, _ = subwords.vocabs(block(tmp_path), corpus())
  vocab.save(tmp_path / "vocab_src.json")
  assert json.loads((tmp_path / "vocab_src.json").read_text())["model"] == "vocab_src.model"
  assert Vocab.load(tmp_path / "vocab_src.json") == vocab
  model = tmp_path / "vocab_src.model"
  model.write_bytes(model.read_bytes()[:-10])
  with pytest.raises(DataError, match=r"vocab_src\.model is damaged"):
    Vocab.load(tmp_path / "vocab_src.json")
  model.unlink()
  with pytest.raises(DataError, match=r"vocab_src\.model, which is missing"):
    Vocab.load(tmp_path / "vocab_src.json")


def test_bleu_13a_scores_plain_text():
  hyps, refs = [["A", "dog", "runs."]], [["A", "dog", "runs", "."]]
  scores, signatures = metrics.corpus_scores(hyps, refs, "13a")
  assert "|tok:13a|" in signatures["bleu"]
  assert scores["bleu"] == pytest.approx(100.0)  # 13a splits "runs." as the reference
  assert scores["bleu"] == sacrebleu.corpus_bleu(["A dog runs."], [["A dog runs ."]]).score
  assert metrics.corpus_scores(hyps, refs)[0]["bleu"] < 100  # tokenize='none': "runs." != "."
  paired = report._bleu_metric(signatures["bleu"])  # the sweep report rescores the files so
  assert paired.corpus_score(["A dog runs."], [["A dog runs ."]]).score == scores["bleu"]


@pytest.fixture(scope="module")
def spm_run(tmp_path_factory):
  """A tiny sentencepiece training on the embedded numbers, its spm cache apart."""
  root = tmp_path_factory.mktemp("spm")
  flags = tiny_flags(data__tokenizer="sentencepiece", data__vocab_size=64)
  proc = cli(
    "--config=configs/transformer.py",
    f"--workdir={root / 'run'}",
    f"--config.data.cache_dir={root / 'cache'}",
    *flags,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "sentencepiece shared source+target: trained in" in proc.stderr
  return root


def test_a_sentencepiece_run_reports_13a_bleu_on_plain_text(spm_run):
  run = spm_run / "run"
  for name in ("vocab_src.json", "vocab_src.model", "vocab_tgt.json", "vocab_tgt.model"):
    assert (run / name).is_file(), name
  test = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
  assert "|tok:13a|" in test["bleu_signature"]
  hyps = (run / "hyp_test_greedy.txt").read_text().splitlines()
  refs = (run / "ref_test.txt").read_text().splitlines()
  assert len(hyps) == len(refs) == 64 and not any("▁" in h for h in hyps)
  assert refs[0] == " ".join(refs[0].split()) and "▁" not in refs[0]  # the raw words
  assert test["greedy_bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)


def test_the_run_directory_serves_translate_without_data_or_cache(spm_run):
  run = spm_run / "moved"
  shutil.copytree(spm_run / "run", run)
  shutil.rmtree(spm_run / "cache")  # the run's own model files serve it
  proc = cli("--mode=translate", f"--workdir={run}", "twenty one")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0] == "> twenty one" and len(lines) == 5 and "▁" not in proc.stdout
  (run / "vocab_tgt.model").write_bytes(b"not a model")
  assert_user_error(cli("--mode=translate", f"--workdir={run}", "one"), "vocab_tgt.model")
  (run / "vocab_tgt.model").unlink()
  proc = cli("--mode=translate", f"--workdir={run}", "one")
  assert_user_error(proc, "vocab_tgt.model", "missing")


def test_a_run_saved_before_the_subword_keys_existed_resumes(tmp_path):
  saved = {"data": {"name": "numbers", "tokenizer": ""}}
  check_compatible(tmp_path, saved, {"data": {**saved["data"], **SUBWORDS}})
  with pytest.raises(ConfigError, match=r"data\.vocab_size: '<absent>' -> 50"):
    check_compatible(tmp_path, saved, {"data": {**saved["data"], **SUBWORDS, "vocab_size": 50}})


def test_translate_input_is_truncated_to_the_models_limit_in_pieces(tmp_path):
  vocab, _ = subwords.vocabs(block(tmp_path), corpus())
  c = load_config("transformer")
  c.model.max_len = 8  # 6 pieces between <sos> and <eos>
  long, short = "der hund läuft über die straße am fluss".split(), ["hund"]
  cut, kept = translation.truncate_sources(c, vocab, [long, short], "in.txt")
  assert len(vocab.split(long)) > 6 >= len(vocab.split(cut)) and cut == long[: len(cut)]
  assert len(vocab.split(long[: len(cut) + 1])) > 6 and kept == short


def test_init_from_copies_the_sentencepiece_models(spm_run, tmp_path):
  names, optional = translation.RUN_FILES, translation.OPTIONAL_RUN_FILES
  for d in ("new", "new2", "words"):
    (tmp_path / d).mkdir()  # open_run makes the workdir first
  copy_run_files(spm_run / "run", tmp_path / "new", names, optional)
  assert Vocab.load(tmp_path / "new" / "vocab_tgt.json").model is not None
  words = tmp_path / "words"  # a run without models: the vocabularies alone, no error
  for name in ("config.json", *names):
    shutil.copyfile(spm_run / "run" / name, words / name)
  copy_run_files(words, tmp_path / "new2", names, optional)
  assert sorted(p.name for p in (tmp_path / "new2").iterdir()) == sorted(names)
