"""The evaluation side's files: the test report's hyp/ref/src files and its chrF, TER and
signatures, --mode=evaluate on any parallel test set, --mode=translate --input/--output
(+ Moses n-best lists), and their one-line errors."""

import json
import re
import shutil

import pytest
import sacrebleu

from seq2seq_jax import metrics, rundir
from seq2seq_jax.data.registry import load_parallel
from seq2seq_jax.errors import DataError
from seq2seq_jax.tasks import translation
from seq2seq_jax.train.steps import create_state
from tests.conftest import assert_user_error, cli, tiny_flags

# 3 epochs at 3e-3: a model whose translations are not empty (BLEU, chrF and TER mean something)
FLAGS = tiny_flags(train__num_epochs=3, train__learning_rate=3e-3)
NBEST_LINE = re.compile(r"(\d+) \|\|\| (.*) \|\|\| (-?[\d.]+(?:e-?\d+)?)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("eval_run")
  proc = cli("--config=configs/transformer.py", f"--workdir={workdir}", *FLAGS)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def lines(path) -> list[str]:
  return path.read_text(encoding="utf-8").split("\n")[:-1]


def dataset_pairs(workdir) -> list[tuple[str, str]]:
  """The run's test pairs, from its dataset (not from the files it wrote), joined."""
  test = load_parallel(rundir.load_config(workdir).data).test
  return [(" ".join(s), " ".join(t)) for s, t in test]


def report_line(workdir) -> dict:
  records = [json.loads(x) for x in lines(workdir / "metrics.jsonl")]
  return next(r for r in records if r.get("split") == "test")


def signature(metric, hyps, refs) -> str:
  """A sacrebleu metric's signature (it knows the reference count once it has scored)."""
  metric.corpus_score(hyps, refs)
  return str(metric.get_signature())


# translate mode with greedy search and one hypothesis per line
GREEDY = (
  "--config=configs/transformer.py",
  *FLAGS,
  "--config.decode.beam_size=1",
  "--config.decode.nbest=1",
)


def test_corpus_scores_are_sacrebleus_and_bleu_is_unchanged():
  hyps = [["a", "b", "c", "d"], ["e", "f", "g"], []]
  refs = [["a", "b", "c", "e"], ["e", "f", "g", "h"], ["i"]]
  joined = lambda xs: [" ".join(x) for x in xs]
  scores, signatures = metrics.corpus_scores(hyps, refs)
  args = (joined(hyps), [joined(refs)])
  assert (
    scores["bleu"]
    == sacrebleu.corpus_bleu(*args, tokenize="none").score
    == metrics.bleu(hyps, refs)
  )
  assert scores["chrf"] == sacrebleu.corpus_chrf(*args).score
  assert scores["ter"] == sacrebleu.corpus_ter(*args).score
  assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100 and 0 < scores["ter"] < 100
  assert "tok:none" in signatures["bleu"] and signatures["chrf"].startswith("nrefs:1|")
  assert signatures["ter"] == signature(sacrebleu.metrics.TER(), *args)


def test_test_report_writes_line_aligned_hyp_ref_src_files(run):
  pairs = dataset_pairs(run)
  assert lines(run / "src_test.txt") == [s for s, _ in pairs]
  assert lines(run / "ref_test.txt") == [t for _, t in pairs]
  for search in ("greedy", "beam2"):
    assert len(lines(run / f"hyp_test_{search}.txt")) == len(pairs) == 64


def test_hypotheses_are_in_test_set_order(run):
  """The batched, bucketed report's line i is what the one-sentence-at-a-time path says."""
  sources = lines(run / "src_test.txt")[:6]
  proc = cli(
    "--mode=translate",
    f"--workdir={run}",
    *GREEDY,
    *sources,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  alone = [x.split(" ", 2)[2] for x in proc.stdout.splitlines() if not x.startswith("> ")]
  assert alone == lines(run / "hyp_test_greedy.txt")[:6]


def test_metrics_jsonl_has_chrf_ter_and_signatures_equal_to_sacrebleus(run):
  test = report_line(run)
  refs = [lines(run / "ref_test.txt")]
  for search in ("greedy", "beam2"):
    hyps = lines(run / f"hyp_test_{search}.txt")
    assert test[f"{search}_bleu"] == pytest.approx(
      sacrebleu.corpus_bleu(hyps, refs, tokenize="none").score
    )
    assert test[f"{search}_chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, refs).score)
    assert test[f"{search}_ter"] == pytest.approx(sacrebleu.corpus_ter(hyps, refs).score)
    assert f"{search}_exact_match" in test and f"{search}_sentences_per_second" in test
  assert test["greedy_chrf"] > 5  # a model that says something
  args = hyps, refs
  assert test["bleu_signature"] == signature(sacrebleu.metrics.BLEU(tokenize="none"), *args)
  assert test["chrf_signature"] == signature(sacrebleu.metrics.CHRF(), *args)
  assert test["ter_signature"] == signature(sacrebleu.metrics.TER(), *args)
  assert "|tok:none|" in test["bleu_signature"]


def test_evaluate_on_files_of_the_test_pairs_matches_the_test_report(run, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(run, copy)
  pairs = dataset_pairs(copy)
  (tmp_path / "own.src.txt").write_text("".join(f"{s}\n" for s, _ in pairs))
  (tmp_path / "own.ref.txt").write_text("".join(f"{t}\n" for _, t in pairs))
  proc = cli(
    "--mode=evaluate",
    f"--workdir={copy}",
    f"--test_src={tmp_path / 'own.src.txt'}",
    f"--test_ref={tmp_path / 'own.ref.txt'}",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "own greedy: BLEU" in proc.stderr and "own signatures: BLEU nrefs:1" in proc.stderr
  records = [json.loads(x) for x in lines(copy / "metrics.jsonl")]
  own, test = records[-1], report_line(copy)
  assert own["split"] == "own" and own["test_src"] == str(tmp_path / "own.src.txt")
  assert own["loss"] == pytest.approx(test["loss"])
  for key in ("greedy_bleu", "greedy_chrf", "greedy_ter", "beam2_bleu", "bleu_signature"):
    assert own[key] == test[key], key  # the same pairs, batches and hypotheses
  for name in ("hyp_own_greedy.txt", "hyp_own_beam2.txt", "ref_own.txt", "src_own.txt"):
    assert lines(copy / name) == lines(copy / name.replace("own", "test")), name
  # a later training start rewrites metrics.jsonl from its checkpoint: the line goes
  proc = cli("--config=configs/transformer.py", f"--workdir={copy}", *FLAGS)
  assert proc.returncode == 0, proc.stderr[-2000:]
  splits = [json.loads(x).get("split") for x in lines(copy / "metrics.jsonl")]
  assert splits == [None, None, None, "test"]


def test_translate_file_keeps_lines_aligned_and_writes_moses_nbest(run, tmp_path):
  long_line = " ".join(["one"] * 120)  # > model.max_len 100: truncated
  inputs = ["twenty one", "", "zebra one", "   ", long_line, "two hundred"]
  (tmp_path / "in.txt").write_text("\n".join(inputs) + "\n")
  out, nbest = tmp_path / "out.txt", tmp_path / "out.nbest"
  proc = cli(
    "--mode=translate",
    f"--workdir={run}",
    f"--input={tmp_path / 'in.txt'}",
    f"--output={out}",
    f"--nbest_output={nbest}",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "2 empty line(s), translated as empty lines (lines 2, 4)" in proc.stderr
  assert "mapped to <unk>: zebra" in proc.stderr
  assert "1 line(s) longer than the model's limit of 100 tokens (model.max_len)" in proc.stderr
  best = lines(out)
  assert len(best) == len(inputs) and best[1] == best[3] == ""
  entries = [NBEST_LINE.fullmatch(x) for x in lines(nbest)]
  assert all(entries), lines(nbest)
  by_id = {}
  for m in entries:
    by_id.setdefault(int(m[1]), []).append((m[2], float(m[3])))
  assert sorted(by_id) == [0, 2, 4, 5]  # the 0-based input lines; none for the empty ones
  for i, hyps in by_id.items():
    scores = [s for _, s in hyps]
    assert len(hyps) == 4 and scores == sorted(scores, reverse=True)  # beam 4, n-best 4
    assert hyps[0][0] == best[i]


def test_translate_file_gives_the_test_reports_greedy_lines(run, tmp_path):
  """64 lines batched by source length alone (other buckets than the test set's): still
  line for line what the test report wrote."""
  out = tmp_path / "out.txt"
  proc = cli(
    "--mode=translate",
    f"--workdir={run}",
    *GREEDY,
    f"--input={run / 'src_test.txt'}",
    f"--output={out}",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert lines(out) == lines(run / "hyp_test_greedy.txt")


def test_bad_files_are_one_line_errors(run, tmp_path):
  src, ref = tmp_path / "a.de", tmp_path / "a.en"
  src.write_text("one\ntwo\nthree\n")
  ref.write_text("un\ndeux\n")
  evaluate = lambda *a: cli("--mode=evaluate", f"--workdir={run}", *a)
  assert_user_error(
    evaluate(f"--test_src={src}", f"--test_ref={ref}"), "has 3 lines", "has 2", str(ref)
  )
  assert_user_error(
    evaluate(f"--test_src={tmp_path / 'nope.de'}", f"--test_ref={ref}"), "nope.de", "no such file"
  )
  (tmp_path / "empty.en").write_text("")
  assert_user_error(evaluate(f"--test_src={src}", f"--test_ref={tmp_path / 'empty.en'}"), "empty")
  assert_user_error(
    evaluate(f"--test_src={src}", f"--test_ref={src}", "--test_name=test"),
    "'test'",
    "--test_name=NAME",
  )
  translate = lambda *a: cli("--mode=translate", f"--workdir={run}", *a)
  out = f"--output={tmp_path / 'out.txt'}"
  assert_user_error(translate(f"--input={tmp_path / 'nope.txt'}", out), "nope.txt", "no such file")
  assert_user_error(translate(f"--input={src}", f"--output={tmp_path / 'no' / 'x'}"), "directory")
  assert not (tmp_path / "out.txt").exists()


def test_a_vocabulary_without_unk_scores_without_the_loss_and_refuses_unknown_sources(
  tiny_config, tmp_path, monkeypatch
):
  c = tiny_config
  c.data.update(specials="tutorial", num_valid=8, num_test=8)  # no <unk> token
  translation.vocabs_for(c, tmp_path, load_parallel(c.data))  # saved, as a run's are
  src_vocab, tgt_vocab = translation.vocabs_for(c, tmp_path, None)
  model = translation.make_model(c, src_vocab, tgt_vocab)
  params = create_state(model, translation.init_args(c), c).params
  monkeypatch.setattr(translation.train, "restore_params", lambda *a, **k: params)
  src, ref = tmp_path / "ext.de", tmp_path / "ext.en"
  src.write_text("twenty one\nseven\n")
  ref.write_text("vingt et un\nzebre\n")  # zebre: not a target word
  result = translation.evaluate_files(c, tmp_path, src, ref, "ext")
  assert "loss" not in result and "greedy_bleu" in result and "beam2_ter" in result
  assert len(lines(tmp_path / "hyp_ext_beam2.txt")) == 2
  assert lines(tmp_path / "ref_ext.txt") == ["vingt et un", "zebre"]
  assert json.loads(lines(tmp_path / "metrics.jsonl")[-1])["split"] == "ext"
  src.write_text("twenty one\nzebra one\n")
  with pytest.raises(DataError, match=r"ext.de line 2: word 'zebra' is not in the vocabulary"):
    translation.evaluate_files(c, tmp_path, src, ref, "ext")
