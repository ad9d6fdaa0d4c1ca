"""Generated WMT-layout corpora (no download, nothing committed): the WMT recipe's sample
and the input-pipeline benchmark's 100 k - 4 M pair corpora.

  python -m seq2seq_jax.data.sample --out=/tmp/wmt_sample --pairs=400

writes train.<src>/.<tgt>, newstest2013.* and newstest2014.* (the `wmt` dataset's
layout): sentences of invented words, Zipf-distributed over a `words`-word vocabulary,
lengths log-normal around WMT's (median ~21 words, long tail, 1..max_len); the target
is the source word for word through a fixed dictionary (a learnable "translation").
Deterministic in the seed; written in chunks (memory does not grow with `pairs`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CHUNK = 50_000  # sentences generated and written at a time
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def vocabulary(n: int, rng: np.random.Generator) -> np.ndarray:
  """n distinct invented words of 1-4 syllables."""
  out, seen = [], set()
  while len(out) < n:
    word = "".join(rng.choice(SYLLABLES, rng.integers(1, 5)))
    if word not in seen:
      seen.add(word)
      out.append(word)
  return np.asarray(out)


def lengths(n: int, rng: np.random.Generator, max_len: int) -> np.ndarray:
  """n sentence lengths, log-normal (median ~21 words), clipped to [1, max_len]."""
  return np.clip(np.rint(rng.lognormal(np.log(21.0), 0.55, n)), 1, max_len).astype(np.int64)


def write_split(
  paths: tuple[Path, Path], pairs: int, words: tuple[np.ndarray, np.ndarray], rng, max_len: int
) -> None:
  """`pairs` line-aligned sentences into the two files."""
  src_words, tgt_words = words
  ranks = np.arange(1, len(src_words) + 1, dtype=np.float64)
  cdf = np.cumsum(1.0 / ranks)
  cdf /= cdf[-1]  # Zipf (s = 1) over the vocabulary
  with paths[0].open("w", encoding="utf-8") as fs, paths[1].open("w", encoding="utf-8") as ft:
    for start in range(0, pairs, CHUNK):
      n = min(CHUNK, pairs - start)
      lens = lengths(n, rng, max_len)
      ids = np.minimum(np.searchsorted(cdf, rng.random(int(lens.sum()))), len(cdf) - 1)
      cuts = np.cumsum(lens)[:-1]
      src = [" ".join(s) for s in np.split(src_words[ids], cuts)]
      tgt = [" ".join(t) for t in np.split(tgt_words[ids], cuts)]
      fs.write("\n".join(src) + "\n")
      ft.write("\n".join(tgt) + "\n")


def write_wmt_sample(
  out: str | Path,
  pairs: int,
  *,
  src: str = "en",
  tgt: str = "de",
  valid: int = 0,
  test: int = 0,
  words: int = 2000,
  max_len: int = 80,
  seed: int = 0,
) -> Path:
  """Writes a WMT-layout corpus of `pairs` training pairs (and `valid` / `test` pairs,
  default pairs // 10, at least 20) into `out`; returns it."""
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  vocab = vocabulary(2 * words, rng)
  pair = (vocab[:words], vocab[words:][rng.permutation(words)])  # the "dictionary"
  sizes = {
    "train": pairs,
    "newstest2013": valid or max(20, pairs // 10),
    "newstest2014": test or max(20, pairs // 10),
  }
  for stem, n in sizes.items():
    write_split((out / f"{stem}.{src}", out / f"{stem}.{tgt}"), n, pair, rng, max_len)
  return out


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", required=True, help="the folder to write (the data.dir of wmt)")
  p.add_argument("--pairs", type=int, default=400, help="training pairs")
  p.add_argument("--src", default="en")
  p.add_argument("--tgt", default="de")
  p.add_argument("--words", type=int, default=2000, help="vocabulary size per side")
  p.add_argument("--max_len", type=int, default=80, help="longest sentence in words")
  p.add_argument("--seed", type=int, default=0)
  a = p.parse_args(argv)
  path = write_wmt_sample(
    a.out, a.pairs, src=a.src, tgt=a.tgt, words=a.words, max_len=a.max_len, seed=a.seed
  )
  print(f"wrote {a.pairs} training pairs ({a.src}->{a.tgt}) to {path}")


if __name__ == "__main__":
  main()
