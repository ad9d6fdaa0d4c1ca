"""Tests for the embedded English -> French number-words dataset."""

import time

import pytest

from seq2seq_jax.data.sources.numbers import (
  MAX_SUPPORTED,
  make_splits,
  number_to_english,
  number_to_french,
)
from seq2seq_jax.errors import ConfigError

# Hand-checked against the traditional French rules (hyphens written as spaces).
FRENCH = {
  0: "zéro",
  1: "un",
  7: "sept",
  10: "dix",
  11: "onze",
  12: "douze",
  13: "treize",
  14: "quatorze",
  15: "quinze",
  16: "seize",
  17: "dix sept",
  18: "dix huit",
  19: "dix neuf",
  20: "vingt",
  21: "vingt et un",
  22: "vingt deux",
  30: "trente",
  31: "trente et un",
  41: "quarante et un",
  51: "cinquante et un",
  60: "soixante",
  61: "soixante et un",
  70: "soixante dix",
  71: "soixante et onze",
  72: "soixante douze",
  77: "soixante dix sept",
  79: "soixante dix neuf",
  80: "quatre vingts",
  81: "quatre vingt un",
  88: "quatre vingt huit",
  90: "quatre vingt dix",
  91: "quatre vingt onze",
  97: "quatre vingt dix sept",
  99: "quatre vingt dix neuf",
  100: "cent",
  101: "cent un",
  111: "cent onze",
  180: "cent quatre vingts",
  200: "deux cents",
  201: "deux cent un",
  280: "deux cent quatre vingts",
  300: "trois cents",
  999: "neuf cent quatre vingt dix neuf",
  1000: "mille",
  1001: "mille un",
  1080: "mille quatre vingts",
  1100: "mille cent",
  1200: "mille deux cents",
  2000: "deux mille",
  21000: "vingt et un mille",
  71000: "soixante et onze mille",
  80000: "quatre vingt mille",
  80080: "quatre vingt mille quatre vingts",
  81000: "quatre vingt un mille",
  100000: "cent mille",
  200000: "deux cent mille",
  200001: "deux cent mille un",
  200200: "deux cent mille deux cents",
  280000: "deux cent quatre vingt mille",
  301000: "trois cent un mille",
  999999: "neuf cent quatre vingt dix neuf mille neuf cent quatre vingt dix neuf",
  1_000_000: "un million",
  1_000_001: "un million un",
  1_001_000: "un million mille",
  2_000_000: "deux millions",
  2_200_000: "deux millions deux cent mille",
  3_000_000: "trois millions",
  80_000_000: "quatre vingts millions",
  200_000_000: "deux cents millions",
  201_000_000: "deux cent un millions",
}

ENGLISH = {
  0: "zero",
  15: "fifteen",
  21: "twenty one",
  80: "eighty",
  91: "ninety one",
  100: "one hundred",
  105: "one hundred five",
  200: "two hundred",
  1000: "one thousand",
  1001: "one thousand one",
  200000: "two hundred thousand",
  999999: "nine hundred ninety nine thousand nine hundred ninety nine",
  1_000_000: "one million",
  3_000_000: "three million",
  1_234_567: "one million two hundred thirty four thousand five hundred sixty seven",
}


@pytest.fixture(scope="module")
def splits():
  return make_splits()


_EN_VALUES = {
  w: i
  for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    " fifteen sixteen seventeen eighteen nineteen".split()
  )
}
_EN_VALUES.update(
  {
    w: 10 * i
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)
  }
)


def _parse_english(text):
  """Independent reader of the English side, to check pairs against numbers."""
  total = current = 0
  for word in text.split():
    if word == "hundred":
      current *= 100
    elif word in ("thousand", "million"):
      total += current * (1000 if word == "thousand" else 1_000_000)
      current = 0
    else:
      current += _EN_VALUES[word]
  return total + current


def _vocab(pairs, side):
  return {w for pair in pairs for w in pair[side].split()}


@pytest.mark.parametrize("n,expected", sorted(FRENCH.items()))
def test_french_known_values(n, expected):
  assert number_to_french(n) == expected


@pytest.mark.parametrize("n,expected", sorted(ENGLISH.items()))
def test_english_known_values(n, expected):
  assert number_to_english(n) == expected


def test_no_hyphens_and_single_spaces():
  for n in list(range(0, 2000)) + list(range(0, MAX_SUPPORTED, 7_777_777)):
    for text in (number_to_english(n), number_to_french(n)):
      assert "-" not in text and "  " not in text and text == text.strip()


@pytest.mark.parametrize("bad", [-1, MAX_SUPPORTED + 1])
def test_out_of_range_raises(bad):
  with pytest.raises(ValueError):
    number_to_french(bad)
  with pytest.raises(ValueError):
    number_to_english(bad)


@pytest.mark.parametrize("bad", [1.0, True, "3"])
def test_non_int_raises(bad):
  with pytest.raises(TypeError):
    number_to_french(bad)


def test_split_sizes_and_keys(splits):
  assert set(splits) == {"train", "validation", "test"}
  assert [len(splits[k]) for k in ("train", "validation", "test")] == [20000, 1000, 1000]


def test_deterministic_by_seed(splits):
  assert make_splits(seed=0) == splits


def test_different_seeds_differ(splits):
  other = make_splits(seed=1)
  for name in splits:
    assert other[name] != splits[name]


def test_splits_disjoint_and_no_duplicates(splits):
  sources = {name: [en for en, _ in pairs] for name, pairs in splits.items()}
  for names in sources.values():
    assert len(set(names)) == len(names)
  assert not set(sources["train"]) & set(sources["validation"])
  assert not set(sources["train"]) & set(sources["test"])
  assert not set(sources["validation"]) & set(sources["test"])


def test_pairs_are_consistent(splits):
  for pairs in splits.values():
    for en, fr in pairs:
      n = _parse_english(en)
      assert number_to_english(n) == en and number_to_french(n) == fr


def test_train_has_small_and_round_numbers(splits):
  train = set(splits["train"])
  for n in list(range(101)) + [200, 1000, 2000, 80000, 100000, 200000]:
    assert (number_to_english(n), number_to_french(n)) in train


def test_length_variety(splits):
  lengths = [len(fr.split()) for _, fr in splits["train"]]
  assert min(lengths) == 1 and max(lengths) >= 10
  assert sum(n <= 3 for n in lengths) > 200
  assert sum(n >= 6 for n in lengths) > 5000
  for name in ("validation", "test"):
    lengths = [len(fr.split()) for _, fr in splits[name]]
    assert sum(n <= 3 for n in lengths) > 20  # Some hundreds: `deux cent un`.
    assert sum(n >= 8 for n in lengths) > 100


def test_magnitudes_are_mixed(splits):
  for name, pairs in splits.items():
    numbers = [_parse_english(en) for en, _ in pairs]
    for lo, hi in [(100, 999), (1000, 9999), (10_000, 99_999), (100_000, 999_999)]:
      share = sum(lo <= n <= hi for n in numbers) / len(numbers)
      assert share > 0.02 if lo == 100 else share > 0.15, (name, lo, share)


@pytest.mark.parametrize("kwargs", [{}, {"num_train": 150, "num_valid": 400, "num_test": 400}])
def test_eval_vocab_in_train(kwargs):
  splits = make_splits(**kwargs)
  for side in (0, 1):
    train_vocab = _vocab(splits["train"], side)
    for name in ("validation", "test"):
      assert _vocab(splits[name], side) <= train_vocab


def test_max_value_respected():
  splits = make_splits(500, 50, 50, max_value=999, seed=3)
  numbers = {en for pairs in splits.values() for en, _ in pairs}
  assert len(numbers) == 600
  assert all("thousand" not in en for en in numbers)


def test_exhaustive_small_range():
  splits = make_splits(80, 10, 10, max_value=99)
  numbers = {en for pairs in splits.values() for en, _ in pairs}
  assert numbers == {number_to_english(n) for n in range(100)}


def test_millions_when_enabled():
  splits = make_splits(2000, 200, 200, max_value=9_999_999)
  for name in splits:
    assert any("million" in fr for _, fr in splits[name])
  assert ("two million", "deux millions") in splits["train"]


@pytest.mark.parametrize(
  "kwargs",
  [
    {"num_train": 90, "num_valid": 10, "num_test": 10, "max_value": 99},
    {"max_value": MAX_SUPPORTED + 1},
    {"max_value": -1},
    {"num_train": -5},
    {"num_valid": 1.5},
  ],
)
def test_bad_arguments_raise_config_error(kwargs):
  with pytest.raises(ConfigError):
    make_splits(**kwargs)


def test_fast():
  start = time.perf_counter()
  make_splits(seed=123)
  assert time.perf_counter() - start < 2.0  # Typically ~0.1 s; loose for shared CPUs.
