"""PyTorch reference implementations, with the tutorials' module and parameter names.

A `state_dict` saved from the tutorials' own code loads into these modules as it
is (`model.load_state_dict(torch.load("tut6-model.pt"))`), and
`interop.torch_import` maps the same keys onto the Flax models. This module
imports torch at the top: import it only where PyTorch is wanted (the rest of
seq2seq_jax works without torch).

Transformer ("Attention is all you need" tutorial, Multi30k de->en):
  Seq2Seq(encoder=Encoder, decoder=Decoder, src_pad_idx, trg_pad_idx)
  encoder.tok_embedding / pos_embedding, encoder.layers.{i}.layer_norm,
  encoder.layers.{i}.self_attention.fc_q|fc_k|fc_v|fc_o,
  encoder.layers.{i}.positionwise_feedforward.fc_1|fc_2; the decoder has the
  same plus decoder.layers.{i}.encoder_attention.* and decoder.fc_out.
The tutorial's code is the default; the switches of models/transformer.py are
here too: `shared_layer_norm=False` (the original tutorial's separate
self_attn_layer_norm / enc_attn_layer_norm / ff_layer_norm), `norm="pre"`
(pre-LN with encoder/decoder.final_layer_norm), `positions="sinusoidal"` (a
non-persistent buffer, so no pos_embedding key).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from seq2seq_jax.interop.torch_beams import Beams
from seq2seq_jax.models.transformer import TransformerConfig, sinusoidal_table


class MultiHeadAttentionLayer(nn.Module):
  """The tutorial's attention: energies / sqrt(head_dim), masked_fill(mask == 0, -1e10)."""

  def __init__(self, hid_dim: int, n_heads: int, dropout: float, device=None):
    super().__init__()
    assert hid_dim % n_heads == 0
    self.hid_dim = hid_dim
    self.n_heads = n_heads
    self.head_dim = hid_dim // n_heads
    self.fc_q = nn.Linear(hid_dim, hid_dim)
    self.fc_k = nn.Linear(hid_dim, hid_dim)
    self.fc_v = nn.Linear(hid_dim, hid_dim)
    self.fc_o = nn.Linear(hid_dim, hid_dim)
    self.dropout = nn.Dropout(dropout)
    self.register_buffer("scale", torch.sqrt(torch.FloatTensor([self.head_dim])), persistent=False)

  def forward(self, query, key, value, mask=None):
    """query [B,Q,hid], key/value [B,K,hid] -> ([B,Q,hid], attention [B,h,Q,K])."""
    batch_size = query.shape[0]
    split = lambda x: x.view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
    q, k, v = split(self.fc_q(query)), split(self.fc_k(key)), split(self.fc_v(value))
    energy = torch.matmul(q, k.permute(0, 1, 3, 2)) / self.scale
    if mask is not None:
      energy = energy.masked_fill(mask == 0, -1e10)
    attention = torch.softmax(energy, dim=-1)
    x = torch.matmul(self.dropout(attention), v)
    x = x.permute(0, 2, 1, 3).contiguous().view(batch_size, -1, self.hid_dim)
    return self.fc_o(x), attention


class PositionwiseFeedforwardLayer(nn.Module):
  def __init__(self, hid_dim: int, pf_dim: int, dropout: float):
    super().__init__()
    self.fc_1 = nn.Linear(hid_dim, pf_dim)
    self.fc_2 = nn.Linear(pf_dim, hid_dim)
    self.dropout = nn.Dropout(dropout)

  def forward(self, x):
    return self.fc_2(self.dropout(torch.relu(self.fc_1(x))))


class _ResidualLayer(nn.Module):
  """A tutorial layer(hid_dim, n_heads, pf_dim, dropout, device): self attention, [encoder
  attention,] feedforward, each in residual + LayerNorm plumbing: one shared `layer_norm`
  (tutorial) or one per sublayer (`norm_names`)."""

  norm_names: tuple[str, ...]
  cross_attention = False

  def __init__(
    self,
    hid_dim: int,
    n_heads: int,
    pf_dim: int,
    dropout: float,
    device=None,
    *,
    shared_layer_norm: bool = True,
    norm: str = "post",
  ):
    super().__init__()
    self.shared_layer_norm, self.pre_norm = shared_layer_norm, norm == "pre"
    for name in ("layer_norm",) if shared_layer_norm else self.norm_names:
      setattr(self, name, nn.LayerNorm(hid_dim))
    self.dropout = nn.Dropout(dropout)
    self.self_attention = MultiHeadAttentionLayer(hid_dim, n_heads, dropout)
    if self.cross_attention:
      self.encoder_attention = MultiHeadAttentionLayer(hid_dim, n_heads, dropout)
    self.positionwise_feedforward = PositionwiseFeedforwardLayer(hid_dim, pf_dim, dropout)

  def residual(self, x, sublayer, norm_name: str):
    """post: norm(x + dropout(f(x))); pre: x + dropout(f(norm(x))). f returns (out, aux)."""
    norm = self.layer_norm if self.shared_layer_norm else getattr(self, norm_name)
    if self.pre_norm:
      out, aux = sublayer(norm(x))
      return x + self.dropout(out), aux
    out, aux = sublayer(x)
    return norm(x + self.dropout(out)), aux


class EncoderLayer(_ResidualLayer):
  norm_names = ("self_attn_layer_norm", "ff_layer_norm")

  def forward(self, src, src_mask):
    src, _ = self.residual(
      src, lambda x: self.self_attention(x, x, x, src_mask), "self_attn_layer_norm"
    )
    src, _ = self.residual(src, lambda x: (self.positionwise_feedforward(x), None), "ff_layer_norm")
    return src


class DecoderLayer(_ResidualLayer):
  norm_names = ("self_attn_layer_norm", "enc_attn_layer_norm", "ff_layer_norm")
  cross_attention = True

  def forward(self, trg, enc_src, trg_mask, src_mask):
    trg, _ = self.residual(
      trg, lambda x: self.self_attention(x, x, x, trg_mask), "self_attn_layer_norm"
    )
    trg, attention = self.residual(
      trg, lambda x: self.encoder_attention(x, enc_src, enc_src, src_mask), "enc_attn_layer_norm"
    )
    trg, _ = self.residual(trg, lambda x: (self.positionwise_feedforward(x), None), "ff_layer_norm")
    return trg, attention


class _Stack(nn.Module):
  """Embedding (tokens * sqrt(hid) + positions, dropout) and the layers, shared by both sides:
  the tutorial's Encoder / Decoder(vocab, hid_dim, n_layers, n_heads, pf_dim, dropout,
  device, max_length), with `layer_cls` layers."""

  layer_cls: type[nn.Module]

  def __init__(
    self,
    vocab_size: int,
    hid_dim: int,
    n_layers: int,
    n_heads: int,
    pf_dim: int,
    dropout: float,
    device=None,
    max_length: int = 100,
    *,
    shared_layer_norm: bool = True,
    norm: str = "post",
    positions: str = "learned",
  ):
    layers = [  # built first: torch's random init draws in the tutorial's order
      self.layer_cls(
        hid_dim, n_heads, pf_dim, dropout, shared_layer_norm=shared_layer_norm, norm=norm
      )
      for _ in range(n_layers)
    ]
    super().__init__()
    self.tok_embedding = nn.Embedding(vocab_size, hid_dim)
    if positions == "learned":
      self.pos_embedding = nn.Embedding(max_length, hid_dim)
    else:
      table = torch.from_numpy(sinusoidal_table(max_length, hid_dim))
      self.register_buffer("pos_table", table, persistent=False)
    self.layers = nn.ModuleList(layers)
    if norm == "pre":
      self.final_layer_norm = nn.LayerNorm(hid_dim)
    self.dropout = nn.Dropout(dropout)
    self.register_buffer("scale", torch.sqrt(torch.FloatTensor([hid_dim])), persistent=False)

  def embed(self, tokens):
    """tokens [B,L] -> [B,L,hid]."""
    pos = torch.arange(0, tokens.shape[1], device=tokens.device).unsqueeze(0)
    pos = self.pos_embedding(pos) if hasattr(self, "pos_embedding") else self.pos_table[pos]
    return self.dropout(self.tok_embedding(tokens) * self.scale + pos)

  def final_norm(self, x):
    return self.final_layer_norm(x) if hasattr(self, "final_layer_norm") else x


class Encoder(_Stack):
  layer_cls = EncoderLayer

  def forward(self, src, src_mask):
    """src [B,S] -> [B,S,hid]; src_mask [B,1,1,S]."""
    src = self.embed(src)
    for layer in self.layers:
      src = layer(src, src_mask)
    return self.final_norm(src)


class Decoder(_Stack):
  layer_cls = DecoderLayer

  def __init__(self, output_dim: int, hid_dim: int, *args, **kwargs):
    super().__init__(output_dim, hid_dim, *args, **kwargs)
    self.fc_out = nn.Linear(hid_dim, output_dim)

  def forward(self, trg, enc_src, trg_mask, src_mask):
    """trg [B,T], enc_src [B,S,hid] -> (logits [B,T,V], last cross attention [B,h,T,S])."""
    trg = self.embed(trg)
    attention = None
    for layer in self.layers:
      trg, attention = layer(trg, enc_src, trg_mask, src_mask)
    return self.fc_out(self.final_norm(trg)), attention


class Seq2Seq(nn.Module):
  """The tutorial's wrapper: pad masks from the pad indices, causal & pad target mask."""

  def __init__(
    self, encoder: Encoder, decoder: Decoder, src_pad_idx: int, trg_pad_idx: int, device=None
  ):
    super().__init__()
    self.encoder = encoder
    self.decoder = decoder
    self.src_pad_idx = src_pad_idx
    self.trg_pad_idx = trg_pad_idx

  def make_src_mask(self, src):
    return (src != self.src_pad_idx).unsqueeze(1).unsqueeze(2)  # [B,1,1,S]

  def make_trg_mask(self, trg):
    trg_pad_mask = (trg != self.trg_pad_idx).unsqueeze(1).unsqueeze(2)
    trg_len = trg.shape[1]
    trg_sub_mask = torch.tril(torch.ones((trg_len, trg_len), device=trg.device)).bool()
    return trg_pad_mask & trg_sub_mask  # [B,1,T,T]

  def forward(self, src, trg):
    """src [B,S], trg [B,T] -> (logits [B,T,V], attention [B,h,T,S])."""
    src_mask = self.make_src_mask(src)
    enc_src = self.encoder(src, src_mask)
    return self.decoder(trg, enc_src, self.make_trg_mask(trg), src_mask)


def initialize_weights(m: nn.Module) -> None:
  """The tutorial's init: xavier_uniform_ on every weight matrix (`model.apply(...)`)."""
  if hasattr(m, "weight") and m.weight.dim() > 1:
    nn.init.xavier_uniform_(m.weight.data)


def build_transformer(cfg: TransformerConfig, src_pad_idx: int, trg_pad_idx: int) -> Seq2Seq:
  """The tutorial's Seq2Seq for a models/transformer.py config, initialised as the tutorial."""
  kw = dict(shared_layer_norm=cfg.shared_layer_norm, norm=cfg.norm, positions=cfg.positions)
  enc, dec = (
    side(vocab, cfg.hid, layers, cfg.heads, cfg.ff, cfg.dropout, max_length=cfg.max_len, **kw)
    for side, vocab, layers in (
      (Encoder, cfg.src_vocab_size, cfg.enc_layers),
      (Decoder, cfg.tgt_vocab_size, cfg.dec_layers),
    )
  )
  model = Seq2Seq(enc, dec, src_pad_idx, trg_pad_idx)
  model.apply(initialize_weights)
  return model


@torch.no_grad()
def translate_sentence(
  model: Seq2Seq, src_ids: list[int], bos_id: int, eos_id: int, max_len: int = 50
) -> list[int]:
  """The tutorial's greedy `translate_sentence` on ids: encode once, then re-run the decoder
  on the growing prefix and append the argmax of the last position, up to <eos> (kept) or
  `max_len` tokens. Returns the generated ids without the leading <sos>."""
  model.eval()
  src = torch.LongTensor(src_ids).unsqueeze(0)
  src_mask = model.make_src_mask(src)
  enc_src = model.encoder(src, src_mask)
  trg_ids = [bos_id]
  for _ in range(max_len):
    trg = torch.LongTensor(trg_ids).unsqueeze(0)
    output, _ = model.decoder(trg, enc_src, model.make_trg_mask(trg), src_mask)
    trg_ids.append(output.argmax(2)[:, -1].item())
    if trg_ids[-1] == eos_id:
      break
  return trg_ids[1:]


@torch.no_grad()
def beam_search(
  model: Seq2Seq,
  src_ids: list[int],
  bos_id: int,
  eos_id: int,
  beam_size: int = 4,
  max_len: int = 50,
  alpha: float = 0.0,
) -> list[tuple[list[int], float, float]]:
  """Beam search on one sentence, `translate_sentence`'s way: encode once, then each step
  re-run the decoder over the whole prefixes of the live hypotheses (one batch of K rows)
  and extend them by the top of their (K x vocab) log-prob sums. Returns up to
  `beam_size` (generated ids incl. <eos>, log-prob, score): finished hypotheses best
  first, then (only at max_len) unfinished ones best first; by decoding.beam_search's rules
  (`torch_beams.Beams`).
  """
  model.eval()
  src = torch.LongTensor(src_ids).unsqueeze(0)
  src_mask = model.make_src_mask(src)
  enc_src = model.encoder(src, src_mask)
  beams = Beams(beam_size, eos_id, max_len, alpha, torch.LongTensor([[bos_id]]), skip=1)
  for step in range(max_len):
    n = beams.seqs.shape[0]
    output, _ = model.decoder(
      beams.seqs, enc_src.expand(n, -1, -1), model.make_trg_mask(beams.seqs), src_mask
    )
    beams.advance(torch.log_softmax(output[:, -1], dim=-1), step)
    if beams.done():
      break
  return beams.results()


def count_parameters(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_epoch(model: Seq2Seq, batches, optimizer, criterion, clip: float) -> float:
  """The tutorial's `train`: batches of (src [B,S], trg [B,T+1]) LongTensors -> mean loss."""
  model.train()
  epoch_loss, n = 0.0, 0
  for src, trg in batches:
    optimizer.zero_grad()
    output, _ = model(src, trg[:, :-1])
    loss = criterion(
      output.contiguous().view(-1, output.shape[-1]), trg[:, 1:].contiguous().view(-1)
    )
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    epoch_loss, n = epoch_loss + loss.item(), n + 1
  return epoch_loss / max(n, 1)
