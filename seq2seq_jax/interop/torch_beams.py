"""Beam-search bookkeeping shared by the PyTorch references' sentence-by-sentence beam
searches (torch_models.beam_search, torch_rnn_models.EncoderDecoder.beam_search)."""

from __future__ import annotations

import torch


class Beams:
  """The bookkeeping of the references' sentence-by-sentence beam searches (the
  transformer's and `torch_rnn_models.EncoderDecoder`'s): live hypotheses, their
  log-probs and the K best finished ones, by `decoding.beam_search`'s rules.

  Mirrors seq2seq_jax.decoding.beam_search: of the best 2K of the (live x vocab) log-prob
  sums, those ending in <eos> join the K best finished hypotheses (score = log-prob /
  ((5 + length) / 6) ** alpha, length incl. <eos>) and the best K others stay live; it
  stops once no live hypothesis can beat the worst of K finished ones, or after max_len
  steps, and live hypotheses fill only the slots finished ones left empty. One difference:
  it starts from one hypothesis (JAX: K copies, K - 1 at -1e7), which only matters when the
  vocabulary has fewer than 2K tokens.

  seqs [n, L] holds the live prefixes; its first `skip` columns (a leading <sos>) are not
  part of the returned ids.
  """

  def __init__(
    self, beam_size: int, eos_id: int, max_len: int, alpha: float, seqs: torch.Tensor, skip: int = 0
  ):
    self.beam_size, self.eos_id, self.max_len, self.alpha, self.skip = (
      beam_size,
      eos_id,
      max_len,
      alpha,
      skip,
    )
    self.seqs, self.logps = seqs, torch.zeros(1)  # live: prefixes and their log-probs
    self.parents = torch.zeros(1, dtype=torch.long)  # each live row's row before `advance`
    self.finished = []  # (score, log-prob, ids), best first, at most beam_size

  def penalty(self, length) -> float:
    return ((5.0 + length) / 6.0) ** self.alpha

  def advance(self, logp: torch.Tensor, step: int) -> torch.Tensor:
    """Extends the live hypotheses by the best of logp [n, V] (their next-token log-probs);
    returns the chosen tokens [n'] (`parents` holds the rows they extend)."""
    vocab, k = logp.shape[-1], self.beam_size
    cand = (self.logps[:, None] + logp).view(-1)
    top_logp, top_idx = cand.topk(min(2 * k, cand.numel()))
    rows, tokens = top_idx // vocab, top_idx % vocab
    ended = tokens == self.eos_id
    for i in ended.nonzero()[:, 0].tolist():
      lp = top_logp[i].item()
      self.finished.append(
        (lp / self.penalty(step + 1), lp, self.seqs[rows[i], self.skip :].tolist() + [self.eos_id])
      )
    self.finished = sorted(self.finished, key=lambda f: -f[0])[:k]  # stable: old ones first
    keep = (~ended).nonzero()[:, 0][:k]
    self.seqs = torch.cat([self.seqs[rows[keep]], tokens[keep, None]], dim=1)
    self.logps, self.parents = top_logp[keep], rows[keep]
    return tokens[keep]

  def done(self) -> bool:
    """No live hypothesis can beat the worst of K finished ones."""
    return len(self.finished) == self.beam_size and self.finished[-1][0] > self.logps[
      0
    ].item() / self.penalty(self.max_len)

  def results(self) -> list[tuple[list[int], float, float]]:
    """Up to K (ids incl. <eos>, log-prob, score): finished best first, then live ones."""
    steps = self.seqs.shape[1] - self.skip
    live = [
      (lp / self.penalty(steps), lp, s[self.skip :])
      for lp, s in zip(self.logps.tolist(), self.seqs.tolist())
    ]
    return [(ids, lp, score) for score, lp, ids in (self.finished + live)[: self.beam_size]]
