"""Word vocabularies: token <-> id maps with special tokens, saved beside checkpoints."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from seq2seq_jax.errors import DataError

# The tutorial transformer's (torchtext) special tokens, in index order.
TORCHTEXT_SPECIALS = ("<unk>", "<pad>", "<sos>", "<eos>")

# Named special-token sets (`data.specials`): tokens in index order, and their roles.
# The RNN tutorials have no padding token; there the pad role reuses <eos> (padding is
# masked everywhere), so the vocabulary sizes match theirs.
SPECIALS = {
  "torchtext": (TORCHTEXT_SPECIALS, dict(pad="<pad>", bos="<sos>", eos="<eos>", unk="<unk>")),
  "tutorial": (("SOS", "EOS"), dict(pad="EOS", bos="SOS", eos="EOS", unk=None)),  # seq2seq
  "paddle": (("<s>", "<e>", "<unk>"), dict(pad="<e>", bos="<s>", eos="<e>", unk="<unk>")),
  "chars": (("S", "E", "?"), dict(pad="?", bos="S", eos="E", unk=None)),  # the char toy
}


@dataclasses.dataclass(frozen=True)
class Vocab:
  """An ordered token list; ids are positions.

  `specials` name the roles pad/bos/eos/unk (any may be None, e.g. a model
  without padding). Tokens are the specials first, then words by descending
  frequency, ties broken alphabetically (torchtext's order).
  """

  tokens: tuple[str, ...]
  pad: str | None = "<pad>"
  bos: str | None = "<sos>"
  eos: str | None = "<eos>"
  unk: str | None = "<unk>"

  def __post_init__(self):
    object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
    for role in ("pad", "bos", "eos", "unk"):
      tok = getattr(self, role)
      if tok is not None and tok not in self._index:
        raise DataError(f"vocabulary has no {role} token {tok!r}: rebuild it with that special.")

  def __len__(self) -> int:
    return len(self.tokens)

  def id(self, token: str) -> int:
    return self._index[token]

  @property
  def pad_id(self) -> int:
    return self._index[self.pad]

  @property
  def bos_id(self) -> int:
    return self._index[self.bos]

  @property
  def eos_id(self) -> int:
    return self._index[self.eos]

  @property
  def unk_id(self) -> int:
    return self._index[self.unk]

  def encode(self, words: Sequence[str]) -> tuple[list[int], list[str]]:
    """Maps words to ids; unknown words go to <unk>. Returns (ids, oov words)."""
    ids, oov = [], []
    for w in words:
      i = self._index.get(w)
      if i is None:
        if self.unk is None:
          raise DataError(f"word {w!r} is not in the vocabulary and it has no <unk> token.")
        oov.append(w)
        i = self.unk_id
      ids.append(i)
    return ids, oov

  def decode(self, ids: Iterable[int]) -> list[str]:
    """Ids -> words, stopping at <eos> and dropping <pad>/<sos>."""
    out = []
    skip = {self._index.get(self.pad), self._index.get(self.bos)} - {None}
    eos = self._index.get(self.eos) if self.eos else None
    for i in ids:
      i = int(i)
      if i == eos:
        break
      if i not in skip:
        out.append(self.tokens[i])
    return out

  @classmethod
  def build(
    cls,
    sentences: Iterable[Sequence[str]],
    *,
    specials: Sequence[str] = TORCHTEXT_SPECIALS,
    min_freq: int = 1,
    max_size: int | None = None,
    **roles,
  ) -> Vocab:
    """Counts words; keeps those seen >= min_freq times (at most max_size, specials excluded)."""
    counts = collections.Counter(w for s in sentences for w in s)
    return cls.from_counts(counts, specials=specials, min_freq=min_freq, max_size=max_size, **roles)

  @classmethod
  def from_counts(
    cls,
    counts: Mapping[str, int],
    *,
    specials: Sequence[str] = TORCHTEXT_SPECIALS,
    min_freq: int = 1,
    max_size: int | None = None,
    **roles,
  ) -> Vocab:
    """`build` from word counts already made (a streamed corpus counted as it goes)."""
    counts = dict(counts)
    for s in specials:
      counts.pop(s, None)
    words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    if max_size is not None:
      words = words[:max_size]
    return cls(tokens=tuple(specials) + tuple(words), **roles)

  def to_json(self) -> dict:
    return dict(tokens=list(self.tokens), pad=self.pad, bos=self.bos, eos=self.eos, unk=self.unk)

  def save(self, path: str | Path) -> None:
    """Writes atomically (temp file, then rename): a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=0))
    os.replace(tmp, path)

  @classmethod
  def load(cls, path: str | Path) -> Vocab:
    path = Path(path)
    if not path.exists():
      raise DataError(f"vocabulary file {path} is missing: is this a seq2seq_jax work directory?")
    try:
      d = json.loads(path.read_text())
      return cls(tokens=tuple(d["tokens"]), pad=d["pad"], bos=d["bos"], eos=d["eos"], unk=d["unk"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
      raise DataError(
        f"vocabulary file {path} is malformed ({e}); delete the run and train again."
      ) from e
