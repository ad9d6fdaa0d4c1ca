"""The SRN toys through the one training loop, the eng-fra tutorial data, and the
PaddlePaddle chapter's n-best output shape."""

import logging
import re

import jax
import pytest

from seq2seq_jax import train
from seq2seq_jax.data.sources import tatoeba as eng_fra
from seq2seq_jax.data.vocab import SPECIALS, Vocab
from seq2seq_jax.tasks import translation
from tests.conftest import SHARED_DATA, load_config


def test_srn_hello_learns_ohlol_and_prints_it_every_epoch(tmp_path, caplog):
  from seq2seq_jax.tasks import tagging

  c = load_config("srn_hello")
  task = tagging.build_task(c, tmp_path)
  with caplog.at_level(logging.INFO, logger="seq2seq_jax"):
    result = train.train_and_evaluate(task, c, tmp_path)
  assert result["predictions"] == ["ohlol"]
  printed = [r.getMessage() for r in caplog.records if "predicted string" in r.getMessage()]
  assert len(printed) == c.train.num_epochs and printed[-1].endswith("ohlol")


def test_char_seq2seq_translates_every_pair(tmp_path, caplog):
  c = load_config("char_seq2seq")
  c.train.num_epochs = 5
  task = translation.build_task(c, tmp_path)
  with caplog.at_level(logging.INFO, logger="seq2seq_jax"):
    result = train.train_and_evaluate(task, c, tmp_path)
  assert result["greedy_exact_match"] == 100.0
  last = [r.getMessage() for r in caplog.records if "epoch 5 greedy:" in r.getMessage()][-1]
  assert last.endswith("hello -> hola | cat -> gato | good -> bueno")


def test_tutorial_normalisation():
  assert eng_fra.normalize("Je suis à l'heure!") == "je suis a l heure !"
  assert eng_fra.tokenize("  Ça va? «Oui».") == ["ca", "va", "?", "oui", "."]


def test_tutorial_filter_and_the_index_multiple_of_ten_split():
  records = [
    {"eng": e, "fra": f}
    for e, f in [
      ("I am cold.", "J'ai froid."),
      ("Go.", "Va !"),
      ("He's a doctor.", "Il est médecin."),
      ("I am sure this sentence is far too long to keep.", "Trop long."),
      ("You're right.", "Vous avez raison."),
    ]
  ]
  pairs = eng_fra.filter_pairs(records, max_words=10, prefixes=eng_fra.ENG_PREFIXES, reverse=True)
  assert pairs == [
    (["j", "ai", "froid", "."], ["i", "am", "cold", "."]),
    (["il", "est", "medecin", "."], ["he", "s", "a", "doctor", "."]),
    (["vous", "avez", "raison", "."], ["you", "re", "right", "."]),
  ]
  split = eng_fra.split_every(list(range(25)), 10, valid_holdout=False)
  assert split.test == [0, 10, 20] and split.validation == [5, 15]
  assert len(split.train) == 22 and 5 in split.train
  assert 5 not in eng_fra.split_every(list(range(25)), 10, valid_holdout=True).train


@pytest.mark.skipif(
  not (SHARED_DATA / "eng-fra" / "eng-fra.txt").exists(), reason="needs ../shared/data/eng-fra"
)
def test_eng_fra_counts_match_the_tutorial(tmp_path):
  c = load_config("gru_attention")
  c.data.dir = str(SHARED_DATA / "eng-fra")
  data = translation.load_parallel(c.data)
  assert (len(data.train), len(data.test)) == (9767, 1086)
  src, tgt = translation.vocabs_for(c, tmp_path, data)
  assert (len(src), len(tgt)) == (4489, 2925)  # the tutorial's counts, SOS and EOS included
  assert (src.bos_id, src.eos_id, src.pad_id) == (0, 1, 1)


def test_translate_prints_the_chapters_nbest_shape(tmp_path):
  c = load_config("bigru_beam")
  c.model.update(embed=8, hidden=8, attention="none", bidirectional=False, bridge="copy")
  c.decode.update(max_len=6, beam_size=3, nbest=2)
  specials, roles = SPECIALS["paddle"]
  vocab = Vocab.build([["ein", "hund", "a", "dog"]], specials=specials, **roles)
  model = translation.make_model(c, vocab, vocab)
  params = model.init(jax.random.PRNGKey(0), *translation.init_args(c))
  lines = []
  translation.translate(c, tmp_path, params, model, vocab, vocab, ["ein hund"], out=lines.append)
  assert lines[0] == "> ein hund"
  for rank, line in enumerate(lines[1:]):
    assert re.fullmatch(rf"{rank} -\d+(\.\d+)?(e[+-]?\d+)? (\S+ )*\S+", line), line
  assert len(lines) == 3
