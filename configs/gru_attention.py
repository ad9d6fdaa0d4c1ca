"""The PyTorch tutorial "translation with a sequence to sequence network and attention".

fra -> eng on the tutorial's filtered eng-fra pairs (10,853; vocabularies of 4,489 French
and 2,925 English words with SOS/EOS, built over all filtered pairs as the tutorial does;
padding reuses EOS, masked). Held out: the pairs whose index is a multiple of 10 (1,086);
training uses the other 9,767; validation is every 10th training pair (index % 10 == 5),
so it tracks the fit and never touches test. Model: embedding + GRU of 256, the
tutorial's attention decoder (dropout 0.1 on the embedding, attention over max_length
10 slots, attn_combine, relu, GRU, log-softmax).

Default: batched (32) Adam recipe, 5 epochs; test greedy BLEU 49.75 with seed 1234 (the
PyTorch recipe's: 43.8) after 47.5 s of training on a quiet 2-core CPU
(experiments/rnn/RESULTS.md); over 3 seeds 47.28 ± 3.40, and 52.60 ± 1.01 with
--config.model.attention=additive (configs/sweeps/gru_attention.py):
  python -m seq2seq_jax.main --config=configs/gru_attention.py
The tutorial's recipe (SGD lr 0.01, one pair per step, teacher forcing 0.5 drawn per
sequence, 75,000 steps ~ 8 epochs of 9,767; greedy BLEU 46.5 after 366 s):
  python -m seq2seq_jax.main --config=configs/gru_attention.py:tutorial
The tutorial's plain decoder (relu(embedding) -> GRU -> log-softmax, no attention), fast
recipe:
  python -m seq2seq_jax.main --config=configs/gru_attention.py:plain
Best held-out BLEU found (Adam, dropout, beam, label smoothing; 57.76 with beam 8):
  python -m seq2seq_jax.main --config=configs/gru_attention.py:best
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config

HEAT_MAP_SENTENCES = (
  "elle a cinq ans de moins que moi .",
  "elle est trop petit .",
  "je ne crains pas de mourir .",
  "c est un jeune directeur plein de talent .",
)


ARGS = ("fast", "tutorial", "plain", "best")


def get_config(arg: str = "fast") -> ml_collections.ConfigDict:
  c = run_config("translation", seed=1234, arg=arg, args=ARGS)

  c.data = data_config(  # the tutorial's pairs: both sides < 10 words, fra -> eng
    "eng_fra",
    dir="../shared/data/eng-fra",
    tokenizer="tutorial",  # normalizeString for translate-mode input
    src_bos_eos=False,
    src_eos=True,  # the tutorial appends EOS to the source
    specials="tutorial",  # SOS=0, EOS=1
    vocab_splits=("train", "validation", "test"),  # all filtered pairs, as the tutorial
    bucket_edges=(6, 8, 10),
  )

  c.model = model_config(
    "rnn",
    attention="fixed",  # the tutorial's attention over max_length 10 slots
    fixed_slots="source",  # all: softmax over all max_length slots (imported tutorial)
    teacher_forcing=0.5,
    coin="sequence",  # sequence (tutorial) | step
  )

  c.train = train_config(  # the tutorial's recipe; the other arguments change it below
    num_epochs=8,
    batch_size=1,
    eval_batch_size=256,
    optimizer="sgd",
    learning_rate=0.01,
    clip=0.0,
    loss_reduction="sequence",
  )  # SGD steps on a pair's summed loss, as the tutorial

  c.decode = decode_config(
    max_len=10,  # the tutorial's MAX_LENGTH decoding steps
    attention_sentences=HEAT_MAP_SENTENCES,
  )

  if arg in ("fast", "best", "plain"):  # chosen on held-out validation curves (data.valid_holdout)
    c.model.teacher_forcing = 1.0  # logits leave the scan: one big matmul
    c.train.update(
      optimizer="adam",
      learning_rate=2e-3,
      batch_size=32,
      num_epochs=5,
      clip=1.0,
      loss_reduction="token",
    )
  if arg == "best":  # + regularisation and a cosine decay over 14 epochs of 307 steps
    c.model.update(dropout=0.3, enc_dropout=0.3)
    c.train.update(
      learning_rate=3e-3,
      num_epochs=14,
      label_smoothing=0.1,
      schedule="warmup_cosine",
      warmup_steps=300,
      decay_steps=4300,
    )
    c.decode.eval_beam_sizes = (4, 8)
  if arg == "plain":
    c.model.update(attention="none", dropout=0.0)
  return c
