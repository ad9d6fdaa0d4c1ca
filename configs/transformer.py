"""The tutorial transformer (Multi30k de->en, "Attention is all you need").

Default: the embedded numbers dataset (English number words -> French), so it
runs with no download:
  python -m seq2seq_jax.main --config=configs/transformer.py
  -> test exact match >= 90 % in under 5 minutes on a 2-core CPU (see README).

The tutorial's recipe on Multi30k (lowercase, whitespace tokens, min_freq 2,
hid 256, 3+3 layers, 8 heads, ff 512, dropout 0.1, Adam 5e-4, clip 1, batch 64,
10 epochs, best-valid checkpoint):
  python -m seq2seq_jax.main --config=configs/transformer.py:multi30k \
      --config.data.dir=../shared/data/multi30k

Packed training batches (README "Packing and token-counted batches"): several pairs per
row of one fixed shape, segment-masked attention, 97 % real target tokens instead of the
buckets' 82 % (yet fewer real tokens a second on a CPU: bench --models=packing); here
4096 tokens a batch (32 rows of 128 source / 124 target tokens):
  python -m seq2seq_jax.main --config=configs/transformer.py:multi30k \
      --config.data.packing=True --config.data.packed_length="(128, 124)" \
      --config.train.max_tokens=4096

multi30k_best: the same 10,409,240-parameter model and data with label smoothing 0.1, Adam
with 1,000 warmup steps to 7e-4 and a cosine decay to 0 over 15 epochs, the best checkpoint
chosen by validation greedy BLEU, the mean of the last 5 epochs' weights reported beside it
(averaged_*), and beam 4 with length penalty 1.0; dropout stays at the tutorial's 0.1 (0.3
learned far too slowly). The Multi30k study's recipe (configs/sweeps/multi30k.py), 3 seeds:
test BLEU 34.70 ± 0.33 beam 4 and 33.82 ± 0.38 greedy, against the tutorial recipe's
31.27 ± 0.63 / 31.12 ± 0.52 (paired bootstrap p ≤ 0.001);
experiments/transformer_multi30k/RESULTS.md.

wmt14_base: "Attention is all you need"'s transformer base on WMT14 en->de: d_model 512,
6+6 layers, 8 heads, ff 2048, dropout 0.1, sinusoidal positions, post-LN, Adam (0.9,
0.98) with 4,000 warmup steps and an inverse-square-root decay from 7e-4 (= 512^-0.5 *
4000^-0.5, the paper's peak), label smoothing 0.1, bf16 compute, no clipping, ~100 k
steps of 768 pairs (~25 k target tokens), beam 4 with length penalty 0.6, the mean of the
last 5 epochs' weights reported beside the best (the paper averaged its last 5
checkpoints). The training set is streamed by grain (data.pipeline=grain, 8 reader
processes) from the files in data.dir: train.en/.de, newstest2013.en/.de (validation),
newstest2014.en/.de (test), e.g. WMT14's train (4.5 M pairs) as prepared for
fairseq/tensor2tensor. The embeddings are not shared (the model has separate source,
target and output matrices; the paper ties them). Cased text, one sentencepiece unigram
model of 32 k pieces shared by both sides (data.tokenizer=sentencepiece; BLEU is 13a on
the detokenised text). Batches are packed (data.packing): 96 rows of 256 source and 256
target tokens (train.max_tokens=24576, ~25 k tokens a side as in the paper, ~770 pairs),
planned once in a streamed pass and then streamed row by row.
One GPU:
  python -m seq2seq_jax.main --config=configs/transformer.py:wmt14_base \
      --config.data.dir=../shared/data/wmt14_en_de --workdir=runs/wmt14_base
A cluster (the same command on every host; jax.distributed finds SLURM / Open MPI / TPU
pods, or pass --coordinator_address=host0:1234 --num_processes=N --process_id=i): each
host reads its own shard of the streamed data; train.batch_size is the global batch:
  python -m seq2seq_jax.main --distributed --config=configs/transformer.py:wmt14_base \
      --config.data.dir=/shared/wmt14_en_de --workdir=/shared/runs/wmt14_base
Literature: Vaswani et al. 2017, transformer base, newstest2014 en->de: 27.3 BLEU
(tokenised, multi-bleu.perl on compound-split text, after 100 k steps on 8 P100s, 12 h);
detokenised sacreBLEU (13a) of the same models is typically ~26-27 (e.g. ~26.4 for
Ott et al. 2018's reproduction of base, whose tokenised score was 27.3+). Not run
here: this machine has no GPU. On the generated sample (README: WMT recipe) it runs end
to end on a CPU with shrunken sizes.
"""

import ml_collections

from seq2seq_jax.config import data_config, decode_config, model_config, run_config, train_config

ARGS = ("numbers", "multi30k", "multi30k_best", "wmt14_base")


def get_config(arg: str = "numbers") -> ml_collections.ConfigDict:
  c = run_config("translation", seed=1234, arg=arg, args=ARGS)

  # + multi30k's keys; lowercase, <sos> source <eos> (the tutorial's source Field)
  c.data = data_config("numbers", "multi30k", min_freq=2)
  if arg == "wmt14_base":
    c.data = data_config("wmt")

  c.model = model_config("transformer")  # the tutorial's: hid 256, 3+3 layers, 8 heads, ff 512

  c.train = train_config(
    num_epochs=10, batch_size=64, optimizer="adam", learning_rate=5e-4, clip=1.0
  )  # the tutorial's recipe

  c.decode = decode_config(max_len=50, eval_beam_sizes=(4,))

  if arg == "numbers":
    c.train.num_epochs = 2
    c.decode.max_len = 24
    c.data.bucket_edges = (12, 16)
  elif arg.startswith("multi30k"):
    c.data.name = "multi30k"
    c.data.dir = "../shared/data/multi30k"
  if arg == "multi30k_best":
    c.train.update(
      num_epochs=15,
      label_smoothing=0.1,
      learning_rate=7e-4,
      schedule="warmup_cosine",
      warmup_steps=1000,
      decay_steps=15 * 457,  # 15 epochs of 457 batches
      select_by="bleu",  # validation greedy BLEU picks the best checkpoint
      keep_checkpoints=5,  # the last 5 epochs, averaged at the end (averaged_* metrics)
    )
    c.decode.length_penalty = 1.0
  if arg == "wmt14_base":
    c.data.update(
      dir="../shared/data/wmt14_en_de",
      src_lang="en",
      tgt_lang="de",
      lowercase=False,  # cased, as BLEU on WMT is
      tokenizer="sentencepiece",  # one unigram model of 32 k pieces over both sides
      vocab_size=32_000,
      shared_vocab=True,
      bucket_edges=(16, 24, 32, 48, 64, 96, 128, 256),
      pipeline="grain",
      workers=8,
      packing=True,  # ~8 pairs a row: the rows planned once, streamed (data/streaming.py)
      packed_length=(256, 256),
    )
    c.model.update(hid=512, enc_layers=6, dec_layers=6, heads=8, ff=2048, dropout=0.1)
    c.model.update(max_len=256, positions="sinusoidal")
    c.train.update(
      num_epochs=17,  # ~100 k steps: 4.5 M pairs are ~5.9 k batches of ~770 pairs
      max_tokens=24_576,  # 96 packed rows of 256: ~25 k tokens a side, the paper's batch
      eval_batch_size=256,
      learning_rate=7e-4,
      b2=0.98,
      clip=0.0,
      schedule="warmup_rsqrt",
      warmup_steps=4000,
      label_smoothing=0.1,
      compute_dtype="bfloat16",
      keep_checkpoints=5,
      checkpoint_every_steps=1000,
      log_every_steps=100,
    )
    c.decode.update(max_len=256, eval_beam_sizes=(4,), length_penalty=0.6, num_samples=3)
  return c
