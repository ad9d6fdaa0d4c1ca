"""PyTorch references of the RNN translators, with the tutorials' module and parameter
names, so a state_dict saved by the tutorials' code loads as it is.

GRU + attention translator (PyTorch seq2seq tutorial; one sentence at a time):
  EncoderRNN      embedding, gru (nn.GRU: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0)
  DecoderRNN      embedding, gru, out                  relu(emb) -> GRU -> log_softmax(out)
  AttnDecoderRNN  embedding, attn, attn_combine, gru, out   (softmax over all max_length slots)
Bi-GRU + additive attention (the PaddlePaddle book's model, in nn terms):
  EncoderRNN(bidirectional=True): gru.weight_ih_l0_reverse, ...
  BahdanauDecoder embedding, boot (decoder_boot: tanh(boot(h)), h the backward GRU's state at
                  the first word), attention.w_q | w_k | v (no biases), gru, out
The tutorial trains and saves the encoder and the decoder as two modules; `EncoderDecoder`
holds both, so one state_dict has `encoder.` / `decoder.` prefixes (what the importer
reads; `torch_import.load_state_dict` also joins two files). It runs the tutorial's
procedures: the encoder token by token, the decoder step by step (`forward`: teacher
forcing; `greedy`: the tutorial's `evaluate`; `beam_search`: one sentence, its K live
hypotheses one batch of decoder steps).
Char toy (the SRN homework's English -> Spanish words): Seq2Seq with encoder, decoder
(nn.RNN over one-hot characters) and fc.
The char-RNN classifier's reference is torch_classifier.RNN.

The generalisations (cell, layers, embedding size) follow models/rnn_seq2seq.py's config;
the recurrent module is named `gru`, `lstm` or `rnn` by its cell. Imports torch: use only
where PyTorch is installed.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from seq2seq_jax.interop.torch_beams import Beams

RNN_CLASSES = {"srn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
RNN_MODULE = {"srn": "rnn", "gru": "gru", "lstm": "lstm"}  # attribute name of the layer


def _zeros_state(cell: str, layers: int, hidden: int):
  h = torch.zeros(layers, 1, hidden)
  return (h, torch.zeros_like(h)) if cell == "lstm" else h


class _Recurrent(nn.Module):
  """Holds one torch.nn recurrent layer under its tutorial name (`gru`, `lstm` or `rnn`)."""

  def _add_rnn(
    self,
    cell: str,
    inputs: int,
    hidden: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
  ) -> None:
    self.cell, self.hidden_size, self.num_layers = cell, hidden, num_layers
    self.directions = 2 if bidirectional else 1
    setattr(
      self,
      RNN_MODULE[cell],
      RNN_CLASSES[cell](
        inputs,
        hidden,
        num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
      ),
    )

  def _add_embedded_rnn(self, vocab: int, embed_size: int | None, hidden: int, cell: str, *args):
    """embedding [vocab, embed_size or hidden] -> the recurrent layer (`_add_rnn`'s args)."""
    self.embedding = nn.Embedding(vocab, embed_size or hidden)
    self._add_rnn(cell, embed_size or hidden, hidden, *args)

  @property
  def recurrent(self) -> nn.Module:
    return getattr(self, RNN_MODULE[self.cell])

  def initHidden(self):  # noqa: N802 (the tutorial's name)
    return _zeros_state(self.cell, self.num_layers * self.directions, self.hidden_size)


class EncoderRNN(_Recurrent):
  """The tutorial's encoder: embedding -> GRU. forward(input [S] ids, hidden) -> (output
  [S,1,H*dirs], hidden); the tutorial feeds one token a call, a whole sentence gives the same."""

  def __init__(
    self,
    input_size: int,
    hidden_size: int,
    *,
    embed_size: int | None = None,
    cell: str = "gru",
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
  ):
    super().__init__()
    self._add_embedded_rnn(
      input_size, embed_size, hidden_size, cell, num_layers, bidirectional, dropout
    )

  def forward(self, input, hidden):
    embedded = self.embedding(input).view(input.numel(), 1, -1)
    return self.recurrent(embedded, hidden)


class DecoderRNN(_Recurrent):
  """The tutorial's plain decoder: relu(embedding) -> GRU -> log_softmax(out)."""

  def __init__(
    self,
    hidden_size: int,
    output_size: int,
    *,
    embed_size: int | None = None,
    cell: str = "gru",
    num_layers: int = 1,
    dropout: float = 0.0,
  ):
    super().__init__()
    self._add_embedded_rnn(output_size, embed_size, hidden_size, cell, num_layers, False, dropout)
    self.out = nn.Linear(hidden_size, output_size)
    self.softmax = nn.LogSoftmax(dim=1)

  def forward(self, input, hidden):
    """input [B] ids (the tutorial: B = 1), hidden [layers,B,H] -> (log-probs [B,V], hidden)."""
    output = F.relu(self.embedding(input).view(1, input.numel(), -1))
    output, hidden = self.recurrent(output, hidden)
    return self.softmax(self.out(output[0])), hidden


class AttnDecoderRNN(_Recurrent):
  """The tutorial's attention decoder: attn weights = softmax(attn([e; h])) over all
  `max_length` slots of encoder_outputs [max_length, H] (zero rows past the source)."""

  def __init__(
    self,
    hidden_size: int,
    output_size: int,
    dropout_p: float = 0.1,
    max_length: int = 10,
    *,
    embed_size: int | None = None,
    cell: str = "gru",
    num_layers: int = 1,
  ):
    super().__init__()
    emb = embed_size or hidden_size
    self.output_size, self.dropout_p, self.max_length = output_size, dropout_p, max_length
    self.embedding = nn.Embedding(output_size, emb)
    self.attn = nn.Linear(emb + hidden_size, max_length)
    self.attn_combine = nn.Linear(emb + hidden_size, hidden_size)
    self.dropout = nn.Dropout(dropout_p)
    self._add_rnn(
      cell, hidden_size, hidden_size, num_layers, dropout=dropout_p if num_layers > 1 else 0.0
    )
    self.out = nn.Linear(hidden_size, output_size)

  def forward(self, input, hidden, encoder_outputs):
    """input [B] ids, hidden [layers,B,H], encoder_outputs [max_length,H] -> (log-probs
    [B,V], hidden, attention [B,max_length])."""
    embedded = self.dropout(self.embedding(input).view(1, input.numel(), -1))
    h = hidden[0] if self.cell == "lstm" else hidden
    attn_weights = F.softmax(self.attn(torch.cat((embedded[0], h[-1:][0]), 1)), dim=1)
    attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
    output = self.attn_combine(torch.cat((embedded[0], attn_applied[0]), 1)).unsqueeze(0)
    output, hidden = self.recurrent(F.relu(output), hidden)
    return F.log_softmax(self.out(output[0]), dim=1), hidden, attn_weights


class AdditiveAttention(nn.Module):
  """Bahdanau: score_s = v . tanh(w_q q + w_k m_s), softmax over the source's slots."""

  def __init__(self, query_size: int, memory_size: int, attn_size: int):
    super().__init__()
    self.w_q = nn.Linear(query_size, attn_size, bias=False)
    self.w_k = nn.Linear(memory_size, attn_size, bias=False)
    self.v = nn.Linear(attn_size, 1, bias=False)

  def forward(self, query, memory):
    """query [B,Q], memory [S,M] -> (context [B,M], weights [B,S])."""
    scores = self.v(torch.tanh(self.w_k(memory)[None] + self.w_q(query)[:, None]))[..., 0]
    weights = F.softmax(scores, dim=-1)
    return weights @ memory, weights


class BahdanauDecoder(_Recurrent):
  """The book's decoder: h0 = tanh(boot(backward state at the first word)); each step
  a = attention(h, memory), h = GRU([emb(y); a.m], h), log_softmax(out(h))."""

  def __init__(
    self,
    embed_size: int,
    hidden_size: int,
    output_size: int,
    memory_size: int,
    *,
    cell: str = "gru",
    dropout: float = 0.0,
  ):
    super().__init__()
    self.embedding = nn.Embedding(output_size, embed_size)
    self.encoder_directions = memory_size // hidden_size
    self.boot = nn.Linear(hidden_size, hidden_size, bias=False)
    self.attention = AdditiveAttention(hidden_size, memory_size, hidden_size)
    self.dropout = nn.Dropout(dropout)
    self._add_rnn(cell, embed_size + memory_size, hidden_size)
    self.out = nn.Linear(hidden_size, output_size)

  def init_hidden(self, encoder_hidden):
    """encoder_hidden [layers*dirs,1,H] (torch's h_n order) -> [1,1,H] from the first
    layer's last direction (the backward one: its state at the first word)."""
    h = encoder_hidden[0] if isinstance(encoder_hidden, tuple) else encoder_hidden
    d = self.encoder_directions
    h = torch.tanh(self.boot(h[d - 1 : d]))
    return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

  def forward(self, input, hidden, encoder_outputs):
    """input [B] ids, hidden [1,B,H], encoder_outputs [S,M] -> (log-probs [B,V], hidden,
    attention [B,S])."""
    embedded = self.dropout(self.embedding(input).view(input.numel(), -1))
    h = hidden[0] if self.cell == "lstm" else hidden
    context, weights = self.attention(h[-1], encoder_outputs)
    output, hidden = self.recurrent(torch.cat((embedded, context), 1)[None], hidden)
    return F.log_softmax(self.out(output[0]), dim=1), hidden, weights


class EncoderDecoder(nn.Module):
  """`encoder` + `decoder` (one state_dict with those prefixes), run as the tutorial does:
  one sentence, the encoder token by token (a bidirectional one over the whole sentence),
  the decoder one step at a time."""

  def __init__(self, encoder: EncoderRNN, decoder: nn.Module):
    super().__init__()
    self.encoder, self.decoder = encoder, decoder

  def encode(self, src_ids: list[int]):
    """-> (encoder_outputs [S or max_length, H*dirs], the decoder's initial hidden)."""
    src = torch.tensor(src_ids, dtype=torch.long)
    hidden = self.encoder.initHidden()
    if self.encoder.directions == 1:
      outputs = []
      for ei in range(len(src_ids)):
        output, hidden = self.encoder(src[ei : ei + 1], hidden)
        outputs.append(output[0, 0])
      outputs = torch.stack(outputs)
    else:
      outputs, hidden = self.encoder(src, hidden)
      outputs = outputs[:, 0]
    if isinstance(self.decoder, AttnDecoderRNN):  # the tutorial's zero-padded buffer
      outputs = torch.cat(
        [outputs, outputs.new_zeros(self.decoder.max_length - len(src_ids), outputs.shape[1])]
      )
    if isinstance(self.decoder, BahdanauDecoder):
      hidden = self.decoder.init_hidden(hidden)
    return outputs, hidden

  def step(self, token, hidden, encoder_outputs):
    """One decoder call on one token id (or a LongTensor [B] of them, hidden [.,B,H]) ->
    (log-probs [B,V], hidden, attention [B,S'] or None)."""
    input = torch.as_tensor(token).view(-1)
    if isinstance(self.decoder, DecoderRNN):
      return (*self.decoder(input, hidden), None)
    return self.decoder(input, hidden, encoder_outputs)

  def forward(self, src_ids: list[int], tgt_in_ids: list[int]):
    """Teacher-forced: -> log-probs [T,V], attention [T,S] (zeros without attention)."""
    encoder_outputs, hidden = self.encode(src_ids)
    logps, attns = [], []
    for token in tgt_in_ids:
      logp, hidden, attn = self.step(token, hidden, encoder_outputs)
      logps.append(logp[0])
      attns.append(attn[0, : len(src_ids)] if attn is not None else torch.zeros(len(src_ids)))
    return torch.stack(logps), torch.stack(attns)

  @torch.no_grad()
  def greedy(self, src_ids: list[int], bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """The tutorial's `evaluate`: argmax fed back, up to <eos> (kept) or max_len tokens."""
    encoder_outputs, hidden = self.encode(src_ids)
    out, token = [], bos_id
    for _ in range(max_len):
      logp, hidden, _ = self.step(token, hidden, encoder_outputs)
      token = int(logp.topk(1)[1].item())
      out.append(token)
      if token == eos_id:
        break
    return out

  @torch.no_grad()
  def beam_search(
    self,
    src_ids: list[int],
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 4,
    alpha: float = 0.0,
  ) -> list[tuple[list[int], float, float]]:
    """Beam search on one sentence: encode once, then each step runs the decoder on the
    live hypotheses as one batch (their last tokens, their hidden states) and reorders the
    hidden states by the chosen beams. Returns up to `beam_size` (tokens incl. <eos>,
    log-prob, score): finished hypotheses best first, then (only at max_len) unfinished
    ones best first; by decoding.beam_search's rules (`torch_beams.Beams`).
    """
    self.eval()
    encoder_outputs, hidden = self.encode(src_ids)
    beams = Beams(beam_size, eos_id, max_len, alpha, torch.zeros((1, 0), dtype=torch.long))
    tokens = torch.tensor([bos_id])
    for step in range(max_len):
      logp, hidden, _ = self.step(tokens, hidden, encoder_outputs)  # [n,V]
      tokens = beams.advance(logp, step)
      idx = beams.parents
      hidden = (
        tuple(h.index_select(1, idx) for h in hidden)
        if isinstance(hidden, tuple)
        else hidden.index_select(1, idx)
      )  # each live hypothesis's parent state
      if beams.done():
        break
    return beams.results()


def train_pair(model: EncoderDecoder, optimizer, src_ids: list[int], tgt_ids: list[int]) -> float:
  """The tutorial's `train` with teacher forcing: NLLLoss summed over the target y <eos>,
  one optimizer step; returns loss / target length."""
  optimizer.zero_grad()
  logps, _ = model(src_ids, tgt_ids[:-1])
  loss = F.nll_loss(logps, torch.tensor(tgt_ids[1:]), reduction="sum")
  loss.backward()
  optimizer.step()
  return loss.item() / (len(tgt_ids) - 1)


class Seq2Seq(nn.Module):
  """The char toy: encoder / decoder nn.RNN over one-hot characters, fc to the characters."""

  def __init__(self, n_class: int, n_hidden: int, dropout: float = 0.0):
    super().__init__()
    self.encoder = nn.RNN(input_size=n_class, hidden_size=n_hidden, dropout=dropout)
    self.decoder = nn.RNN(input_size=n_class, hidden_size=n_hidden, dropout=dropout)
    self.fc = nn.Linear(n_hidden, n_class)

  def forward(self, enc_input, enc_hidden, dec_input):
    """enc_input [B,S,C], dec_input [B,T,C] one-hot, enc_hidden [1,B,H] -> logits [T,B,C]."""
    _, h_t = self.encoder(enc_input.transpose(0, 1), enc_hidden)
    outputs, _ = self.decoder(dec_input.transpose(0, 1), h_t)
    return self.fc(outputs)


def build_translator(cfg) -> nn.Module:
  """The reference for a models/rnn_seq2seq.RNNSeq2SeqConfig: the char toy's Seq2Seq
  (embed 0), else EncoderDecoder with DecoderRNN / AttnDecoderRNN / BahdanauDecoder."""
  if not cfg.embed:
    toy = (cfg.cell, cfg.attention, cfg.enc_layers, cfg.dec_layers, cfg.bidirectional)
    if toy != ("srn", "none", 1, 1, False) or cfg.activation != "tanh":
      raise ValueError("one-hot inputs: only the char toy's Seq2Seq has a reference.")
    return Seq2Seq(cfg.src_vocab_size, cfg.hidden)
  encoder = EncoderRNN(
    cfg.src_vocab_size,
    cfg.hidden,
    embed_size=cfg.embed,
    cell=cfg.cell,
    num_layers=cfg.enc_layers,
    bidirectional=cfg.bidirectional,
    dropout=cfg.enc_dropout,
  )
  common = dict(cell=cfg.cell)
  tutorial = cfg.bridge == "copy" and not cfg.bidirectional and cfg.enc_layers == cfg.dec_layers
  if cfg.attention == "none" and tutorial:
    decoder = DecoderRNN(
      cfg.hidden,
      cfg.tgt_vocab_size,
      embed_size=cfg.embed,
      num_layers=cfg.dec_layers,
      dropout=cfg.dropout,
      **common,
    )
  elif cfg.attention == "fixed" and tutorial and cfg.fixed_slots == "all":
    decoder = AttnDecoderRNN(
      cfg.hidden,
      cfg.tgt_vocab_size,
      cfg.dropout,
      cfg.max_length,
      embed_size=cfg.embed,
      num_layers=cfg.dec_layers,
      **common,
    )
  elif cfg.attention == "additive" and cfg.bridge == "tanh" and cfg.dec_layers == 1:
    memory = cfg.hidden * (2 if cfg.bidirectional else 1)
    decoder = BahdanauDecoder(
      cfg.embed, cfg.hidden, cfg.tgt_vocab_size, memory, dropout=cfg.dropout, **common
    )
  else:
    raise ValueError(
      f"no PyTorch reference for attention={cfg.attention!r}, "
      f"bridge={cfg.bridge!r}, fixed_slots={cfg.fixed_slots!r}."
    )
  return EncoderDecoder(encoder, decoder)
