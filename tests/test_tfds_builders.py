"""Tests for the tfds builders in seq2seq_jax.data.builders (tiny fake data)."""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data.builders import download as dl
from seq2seq_jax.data.builders.datasets import Multi30k, TatoebaPairs
from seq2seq_jax.data.registry import load_records
from seq2seq_jax.errors import DataError, UserError

REAL_DATA = (Path(__file__).parents[1] / "../shared/data").resolve()

M30K = {
  "train": (
    ["Zwei Männer größer als – ein Baum.", "Ein Kind\u2028spielt.", "  Leerzeichen  "],
    ["Two men taller than – a tree.", "A child\u2028plays.", "  spaces  "],
  ),
  "val": (["Ein Hund läuft."], ["A dog runs."]),
  "test_2016_flickr": (["Café «Über»", "Schnee."], ["Café “Over”", "Snow."]),
}
TATOEBA = ["Go.\tVa !", "Run!\tCours\u202f!", "Wow!\tÇa alors\u00a0!", "I'm ok.\tÇa va."]
NAMES = {
  "Russian": ["Ivanov", "To The First  Page", "Lytkin,", ""],
  "Chinese": ["Lu:", "Zhang"],
  "Ñandú": ["Pérez"],
}


def _write(path: Path, lines: list[str]) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes("".join(x + "\n" for x in lines).encode("utf-8"))
  return path


def _multi30k_dir(root: Path) -> Path:
  for stem, (de, en) in M30K.items():
    _write(root / f"{stem}.de", de)
    _write(root / f"{stem}.en", en)
  return root


def _tatoeba_dir(root: Path, lines: list[str] = TATOEBA) -> Path:
  _write(root / "eng-fra.txt", lines)
  return root


def _names_dir(root: Path) -> Path:
  for label, names in NAMES.items():
    _write(root / f"{label}.txt", names)
  return root


def _sha(path: Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def _trusted_caches(cache: Path) -> list[Path]:
  return sorted(cache.rglob("dataset_info.json"))


# --------------------------------------------------------------------------- #
# Round trips.
# --------------------------------------------------------------------------- #


def test_multi30k_round_trip(tmp_path):
  src = _multi30k_dir(tmp_path / "m30k")
  out = load_records("multi30k", str(src), str(tmp_path / "cache"))
  assert list(out) == ["train", "validation", "test"]
  for split, stem in [("train", "train"), ("validation", "val"), ("test", "test_2016_flickr")]:
    de, en = M30K[stem]
    assert out[split] == [
      {"de": d, "en": e, "index": i} for i, (d, e) in enumerate(zip(de, en, strict=True))
    ]
  rec = out["train"][0]
  assert type(rec["de"]) is str and type(rec["index"]) is int


def test_tatoeba_round_trip(tmp_path):
  src = _tatoeba_dir(tmp_path / "ef")
  out = load_records("tatoeba_pairs", str(src), str(tmp_path / "cache"))
  assert list(out) == ["train"]
  expected = [
    {"eng": line.split("\t")[0], "fra": line.split("\t")[1], "index": i}
    for i, line in enumerate(TATOEBA)
  ]
  assert out["train"] == expected
  assert out["train"][1]["fra"] == "Cours\u202f!"


def test_names_round_trip_sorted_labels_junk_kept_readme_skipped(tmp_path):
  src = _names_dir(tmp_path / "names")
  _write(src / "README.txt", ["not a label"])
  (src / "notes.md").write_text("ignored\n")
  out = load_records("names_folder", str(src), str(tmp_path / "cache"))
  expected = [
    {"name": n, "label": label, "index": i}
    for label in sorted(NAMES)
    for i, n in enumerate(NAMES[label])
  ]
  assert out == {"train": expected}
  assert [r["label"] for r in out["train"]][:3] == ["Chinese", "Chinese", "Russian"]


def test_crlf_line_endings_are_stripped(tmp_path):
  src = tmp_path / "ef"
  src.mkdir()
  (src / "eng-fra.txt").write_bytes(b"Hi.\tSalut.\r\nBye.\tAu revoir.\r\n")
  out = load_records("tatoeba_pairs", str(src), str(tmp_path / "cache"))
  assert [(r["eng"], r["fra"]) for r in out["train"]] == [("Hi.", "Salut."), ("Bye.", "Au revoir.")]


def test_fast_decode_matches_tfds_decoding(tmp_path):
  src = _names_dir(tmp_path / "names")
  cache = tmp_path / "cache"
  out = load_records("names_folder", str(src), str(cache))
  (info,) = _trusted_caches(cache)
  ds = tfds.builder_from_directory(str(info.parent)).as_data_source()["train"]
  decoded = [
    {"name": r["name"].decode(), "label": r["label"].decode(), "index": int(r["index"])} for r in ds
  ]
  assert decoded == out["train"]


# --------------------------------------------------------------------------- #
# Caching.
# --------------------------------------------------------------------------- #


def test_cache_is_reused(tmp_path, monkeypatch):
  src = _multi30k_dir(tmp_path / "m30k")
  cache = tmp_path / "cache"
  first = load_records("multi30k", str(src), str(cache))

  def fail(self):
    raise AssertionError("source was parsed again")

  monkeypatch.setattr(Multi30k, "read_source", fail)
  assert load_records("multi30k", str(src), str(cache)) == first
  assert len(_trusted_caches(cache)) == 1


def test_changed_source_is_not_served_from_stale_cache(tmp_path):
  src = _tatoeba_dir(tmp_path / "ef")
  cache = tmp_path / "cache"
  path = src / "eng-fra.txt"
  assert load_records("tatoeba_pairs", str(src), str(cache))["train"][0]["eng"] == "Go."
  # Same size and same mtime: only a content fingerprint notices.
  stat = path.stat()
  path.write_bytes(path.read_bytes().replace(b"Go.", b"No."))
  os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
  assert path.stat().st_size == stat.st_size
  assert load_records("tatoeba_pairs", str(src), str(cache))["train"][0]["eng"] == "No."
  assert len(_trusted_caches(cache)) == 2


def test_added_label_file_invalidates_cache(tmp_path):
  src = _names_dir(tmp_path / "names")
  cache = tmp_path / "cache"
  load_records("names_folder", str(src), str(cache))
  _write(src / "Arabic.txt", ["Khoury"])
  out = load_records("names_folder", str(src), str(cache))
  assert out["train"][0] == {"name": "Khoury", "label": "Arabic", "index": 0}


def test_failed_preparation_leaves_no_trusted_cache(tmp_path, monkeypatch):
  src = _tatoeba_dir(tmp_path / "ef")
  cache = tmp_path / "cache"

  def broken(self, records):
    yield 0, records[0]
    raise RuntimeError("disk full")

  with monkeypatch.context() as m:
    m.setattr(TatoebaPairs, "_generate_examples", broken)
    with pytest.raises(RuntimeError, match="disk full"):
      load_records("tatoeba_pairs", str(src), str(cache))
  assert _trusted_caches(cache) == []
  assert not [p for p in cache.rglob("*") if "incomplete" in p.name]
  assert len(load_records("tatoeba_pairs", str(src), str(cache))["train"]) == len(TATOEBA)


# --------------------------------------------------------------------------- #
# Errors.
# --------------------------------------------------------------------------- #


def test_missing_source_dir(tmp_path):
  missing = tmp_path / "nowhere"
  with pytest.raises(DataError) as err:
    load_records("multi30k", str(missing), str(tmp_path / "cache"))
  msg = str(err.value)
  assert (
    str(missing) in msg and "--config.data.dir=" in msg and "--config.data.download=True" in msg
  )
  assert isinstance(err.value, UserError)


def test_no_source_dir_and_no_download(tmp_path):
  with pytest.raises(DataError, match=r"no data directory was given.*--config\.data\.dir="):
    load_records("tatoeba_pairs", None, str(tmp_path / "cache"))


def test_unknown_dataset_lists_known_ones(tmp_path):
  with pytest.raises(DataError) as err:
    load_records("wmt14", str(tmp_path), str(tmp_path / "cache"))
  msg = str(err.value)
  assert "'wmt14'" in msg
  assert all(n in msg for n in ("multi30k", "tatoeba_pairs", "names_folder"))


def test_missing_required_file(tmp_path):
  src = _multi30k_dir(tmp_path / "m30k")
  (src / "val.en").unlink()
  with pytest.raises(DataError, match="required file .*val.en is missing"):
    load_records("multi30k", str(src), str(tmp_path / "cache"))


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_file(tmp_path, content):
  src = _tatoeba_dir(tmp_path / "ef")
  (src / "eng-fra.txt").write_bytes(content)
  with pytest.raises(DataError, match=r"eng-fra\.txt.* is empty"):
    load_records("tatoeba_pairs", str(src), str(tmp_path / "cache"))


def test_names_folder_without_label_files(tmp_path):
  src = tmp_path / "names"
  src.mkdir()
  with pytest.raises(DataError, match=r"no <Label>\.txt files in .*names"):
    load_records("names_folder", str(src), str(tmp_path / "cache"))


@pytest.mark.parametrize("bad", ["no tab here", "a\tb\tc"])
def test_malformed_tatoeba_line_names_path_and_line(tmp_path, bad):
  src = _tatoeba_dir(tmp_path / "ef", [*TATOEBA[:2], bad, *TATOEBA[2:]])
  cache = tmp_path / "cache"
  with pytest.raises(DataError) as err:
    load_records("tatoeba_pairs", str(src), str(cache))
  msg = str(err.value)
  assert f"{src / 'eng-fra.txt'}, line 3:" in msg and "exactly one TAB" in msg
  assert _trusted_caches(cache) == []


def test_multi30k_line_count_mismatch(tmp_path):
  src = _multi30k_dir(tmp_path / "m30k")
  _write(src / "train.en", M30K["train"][1][:2])
  with pytest.raises(DataError) as err:
    load_records("multi30k", str(src), str(tmp_path / "cache"))
  msg = str(err.value)
  assert "has 3 lines" in msg and "has 2" in msg
  assert f"line 3 of {src / 'train.de'}" in msg


def test_invalid_utf8_names_line(tmp_path):
  src = _tatoeba_dir(tmp_path / "ef")
  (src / "eng-fra.txt").write_bytes(b"Go.\tVa !\nBad\t\xff\xfe\n")
  with pytest.raises(DataError, match=r"eng-fra\.txt, line 2: not valid UTF-8"):
    load_records("tatoeba_pairs", str(src), str(tmp_path / "cache"))


# --------------------------------------------------------------------------- #
# Download from a file:// copy of the upstream layout.
# --------------------------------------------------------------------------- #


@pytest.fixture
def upstream(tmp_path, monkeypatch):
  """Tiny upstream copies (gz files, data.zip) with their checksums patched in."""
  up = tmp_path / "upstream"
  plain = _multi30k_dir(tmp_path / "plain_m30k")
  (up / "m30k").mkdir(parents=True)
  for p in plain.iterdir():
    (up / "m30k" / f"{p.name}.gz").write_bytes(gzip.compress(p.read_bytes()))
  ef, names = _tatoeba_dir(tmp_path / "plain_ef"), _names_dir(tmp_path / "plain_names")
  with zipfile.ZipFile(up / "data.zip", "w") as zf:
    zf.write(ef / "eng-fra.txt", "data/eng-fra.txt")
    for p in names.iterdir():
      zf.write(p, f"data/names/{p.name}")
    zf.writestr("data/names/Extra.txt", "not in the checksum table\n")
  monkeypatch.setattr(dl, "MULTI30K_URL", (up / "m30k").as_uri())
  monkeypatch.setattr(dl, "PYTORCH_DATA_URL", (up / "data.zip").as_uri())
  monkeypatch.setitem(dl.CHECKSUMS, "multi30k", {p.name: _sha(p) for p in plain.iterdir()})
  monkeypatch.setitem(dl.CHECKSUMS, "tatoeba_pairs", {"eng-fra.txt": _sha(ef / "eng-fra.txt")})
  monkeypatch.setitem(dl.CHECKSUMS, "names_folder", {p.name: _sha(p) for p in names.iterdir()})
  return up


def test_download_good_checksums(tmp_path, upstream):
  cache = tmp_path / "cache"
  expected = {
    "multi30k": load_records("multi30k", str(tmp_path / "plain_m30k"), str(tmp_path / "c0")),
    "tatoeba_pairs": load_records("tatoeba_pairs", str(tmp_path / "plain_ef"), str(cache)),
    "names_folder": load_records("names_folder", str(tmp_path / "plain_names"), str(cache)),
  }
  for name, want in expected.items():
    assert load_records(name, None, str(cache), download=True) == want
  # A missing source_dir also falls back to the download when allowed.
  got = load_records("multi30k", str(tmp_path / "gone"), str(cache), download=True)
  assert got == expected["multi30k"]
  # Verified downloads are reused: upstream is no longer needed.
  (upstream / "data.zip").unlink()
  assert load_records("names_folder", None, str(cache), download=True) == expected["names_folder"]
  assert {r["label"] for r in expected["names_folder"]["train"]} == set(NAMES)


def test_download_bad_checksum(tmp_path, upstream, monkeypatch):
  bad = "0" * 64
  monkeypatch.setitem(dl.CHECKSUMS["multi30k"], "val.en", bad)
  cache = tmp_path / "cache"
  with pytest.raises(DataError) as err:
    load_records("multi30k", None, str(cache), download=True)
  msg = str(err.value)
  actual = _sha(tmp_path / "plain_m30k" / "val.en")
  assert "checksum mismatch for val.en" in msg and bad in msg and actual in msg
  assert not list((cache / "downloads").glob("multi30k-*"))
  assert _trusted_caches(cache) == []


def test_download_bad_checksum_in_zip(tmp_path, upstream, monkeypatch):
  monkeypatch.setitem(dl.CHECKSUMS, "tatoeba_pairs", {"eng-fra.txt": "f" * 64})
  with pytest.raises(DataError, match=r"checksum mismatch for eng-fra\.txt.*expected sha256 f{64}"):
    load_records("tatoeba_pairs", None, str(tmp_path / "cache"), download=True)


def test_download_missing_upstream(tmp_path, upstream, monkeypatch):
  monkeypatch.setattr(dl, "MULTI30K_URL", (tmp_path / "nothing").as_uri())
  with pytest.raises(
    DataError, match=r"could not download file://\S*/nothing/\S+\.gz \(.*No such file"
  ):
    load_records("multi30k", None, str(tmp_path / "cache"), download=True)


# --------------------------------------------------------------------------- #
# Real data (skipped when the shared data folder is absent).
# --------------------------------------------------------------------------- #


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"no shared data at {REAL_DATA}")
def test_real_data_line_counts(tmp_path_factory):
  """Prepares all three real datasets once (~7 s on 2 cores) and checks counts."""
  cache = str(tmp_path_factory.mktemp("real_cache"))
  m30k = load_records("multi30k", str(REAL_DATA / "multi30k"), cache)
  assert {k: len(v) for k, v in m30k.items()} == {"train": 29000, "validation": 1014, "test": 1000}
  ef = load_records("tatoeba_pairs", str(REAL_DATA / "eng-fra"), cache)
  assert len(ef["train"]) == 135842 and ef["train"][0] == {"eng": "Go.", "fra": "Va !", "index": 0}
  names = load_records("names_folder", str(REAL_DATA / "names"), cache)["train"]
  assert len(names) == 20074 and len({r["label"] for r in names}) == 18
  assert sum(r["label"] == "Russian" for r in names) == 9408
