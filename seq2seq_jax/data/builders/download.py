"""Downloading the raw sources (urllib, so file:// works too), checksum-verified.

`download_source(name, downloads_dir)` fetches the upstream archives of a builder's
dataset once, extracts the files it reads and checks each against CHECKSUMS; the
verified folder appears only when every file matched.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from seq2seq_jax.errors import DataError

# Upstream sources; module constants so tests can point them at file:// copies.
MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
PYTORCH_DATA_URL = "https://download.pytorch.org/tutorial/data.zip"

# sha256 of the extracted files (from the READMEs in the shared data folder).
# For names_folder the table also fixes which label files are extracted.
CHECKSUMS: dict[str, dict[str, str]] = {
  "multi30k": {
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
  },
  "tatoeba_pairs": {
    "eng-fra.txt": "6b0f3decdb78600485b58efb541f5a2ab69ba888742ac04180e013084e40de7c",
  },
  "names_folder": {
    "Arabic.txt": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese.txt": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech.txt": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch.txt": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English.txt": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French.txt": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German.txt": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek.txt": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish.txt": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian.txt": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese.txt": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean.txt": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish.txt": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese.txt": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian.txt": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish.txt": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish.txt": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese.txt": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
  },
}


def sha256(path: Path) -> str:
  """The hex sha256 of a file, read in 1 MiB chunks."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def source_url(name: str) -> str:
  """Where dataset `name` is fetched from (for downloads and error messages)."""
  return MULTI30K_URL if name == "multi30k" else PYTORCH_DATA_URL


def _urls(name: str) -> dict[str, tuple[str, str]]:
  """Extracted file name -> (url, member in the archive) for dataset `name`."""
  if name == "multi30k":
    return {f: (f"{source_url(name).rstrip('/')}/{f}.gz", "") for f in sorted(CHECKSUMS[name])}
  prefix = "data/" if name == "tatoeba_pairs" else "data/names/"
  return {f: (source_url(name), prefix + f) for f in sorted(CHECKSUMS[name])}


def _download(url: str, raw_dir: Path, name: str) -> Path:
  """Downloads `url` into `raw_dir` once (atomically) and returns the file."""
  key = hashlib.sha256(url.encode()).hexdigest()[:12]
  dest = raw_dir / f"{key}-{posixpath.basename(urllib.parse.urlparse(url).path)}"
  if dest.exists():
    return dest
  raw_dir.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=raw_dir, prefix=dest.name + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as resp:
      shutil.copyfileobj(resp, f)
    os.replace(tmp, dest)
  except (OSError, ValueError) as e:  # URLError/HTTPError are OSErrors.
    raise DataError(
      f"{name}: could not download {url} ({getattr(e, 'reason', e)}). Check the network "
      "connection, or set --config.data.dir=... to a local copy of the data."
    ) from None
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
  return dest


def _extract(archive: Path, member: str, dest: Path, name: str, url: str) -> None:
  """Writes the decompressed file (or zip `member`) of `archive` to `dest`."""
  try:
    if member:
      with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    else:
      with gzip.open(archive, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
  except KeyError:
    raise DataError(
      f"{name}: the archive {url} has no member {member}. Upstream changed its "
      "layout; set --config.data.dir=... to a local copy of the data."
    ) from None
  except (OSError, EOFError, zipfile.BadZipFile) as e:
    archive.unlink(missing_ok=True)  # Corrupt download: fetch again next time.
    raise DataError(
      f"{name}: could not extract {url} ({e}); the download is corrupt. Retry, or "
      "set --config.data.dir=... to a local copy of the data."
    ) from None


def download_source(name: str, downloads_dir: str | os.PathLike) -> Path:
  """Downloads and verifies the source files of builder dataset `name`; returns their folder.

  The verified folder `downloads_dir/<name>-<key>` (key: hash of URLs and
  checksums) is reused by later calls and only appears once every file has
  been extracted and matched its sha256.
  """
  downloads_dir = Path(downloads_dir)
  urls = _urls(name)
  spec = json.dumps([urls, CHECKSUMS[name]], sort_keys=True)
  key = hashlib.sha256(spec.encode()).hexdigest()[:12]
  final = downloads_dir / f"{name}-{key}"
  if final.is_dir():
    return final
  downloads_dir.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=downloads_dir, prefix=f".{name}-{key}.", suffix=".tmp"))
  try:
    for fname, (url, member) in urls.items():
      archive = _download(url, downloads_dir / "raw", name)
      _extract(archive, member, tmp / fname, name, url)
      expected, actual = CHECKSUMS[name][fname], sha256(tmp / fname)
      if actual != expected:
        archive.unlink(missing_ok=True)  # Fetch again on the next try.
        raise DataError(
          f"{name}: checksum mismatch for {fname} (from {url}{' ' + member if member else ''}): "
          f"expected sha256 {expected}, got {actual}. The download is corrupt or "
          "upstream changed; retry, or set --config.data.dir=... to a verified local copy."
        )
    try:
      tmp.rename(final)
    except OSError:
      if not final.is_dir():  # Else another process finished the same download.
        raise
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return final
