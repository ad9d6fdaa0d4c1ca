"""Greedy and beam-search table of a trained translation run: BLEU, exact match and
sentences/s per search, on its test split.

Each search is compiled first (one batch per bucket shape), then timed over the whole
split, so sentences/s excludes compilation. Greedy is decoding.greedy_search; beam 1 is
decoding.beam_search with K=1, which is not greedy: it keeps the best hypothesis that
ended among each step's top 2 candidates, so it may return a shorter, more probable one.

  python experiments/rnn/beam_table.py --workdir=runs/bigru_beam_multi30k --beams=1,2,4,8
"""

import functools
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
from absl import app, flags  # noqa: E402

from seq2seq_jax import decoding, metrics, train  # noqa: E402
from seq2seq_jax.tasks import translation  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run.", required=True)
_BEAMS = flags.DEFINE_list("beams", ["1", "2", "4", "8"], "Beam sizes besides greedy.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to decode.")


def main_(argv):
  del argv
  logging.basicConfig(level=logging.WARNING)
  jax.config.update("jax_threefry_partitionable", True)
  workdir = Path(_WORKDIR.value)
  config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  task = translation.build_task(config, workdir)
  params = train.restore_params(task.model, task.init_args, config, workdir)
  _, tgt_vocab = translation.vocabs_for(config, workdir, None)
  data = task.eval_data[_SPLIT.value]
  refs = [p[1] for p in translation.load_parallel(config.data).split(_SPLIT.value)]
  kw = dict(max_len=config.decode.max_len, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id)
  searches = {"greedy": functools.partial(decoding.greedy_search, task.model, params, **kw)}
  for k in map(int, _BEAMS.value):
    searches[f"beam {k}"] = functools.partial(
      decoding.beam_search,
      task.model,
      params,
      beam_size=k,
      alpha=config.decode.length_penalty,
      **kw,
    )
  rows = []
  for name, search in searches.items():
    warmed = set()
    for batch in data.batches():  # compile once per bucket shape
      if batch["src"].shape not in warmed:
        warmed.add(batch["src"].shape)
        jax.block_until_ready(search(jnp.asarray(batch["src"]), jnp.asarray(batch["src_len"])))
    hyps = [None] * len(data.examples)
    t0 = time.time()
    for batch in data.batches():
      out = jax.device_get(search(jnp.asarray(batch["src"]), jnp.asarray(batch["src_len"])))
      tokens = out["tokens"] if out["tokens"].ndim == 2 else out["tokens"][:, 0]
      for row, i in enumerate(batch["index"]):
        if i >= 0:
          hyps[i] = tgt_vocab.decode(tokens[row])
    seconds = time.time() - t0
    rows.append(
      dict(
        search=name,
        bleu=round(metrics.bleu(hyps, refs), 2),
        exact_match=round(metrics.exact_match(hyps, refs), 1),
        sentences_per_second=round(len(hyps) / seconds, 1),
      )
    )
    print(json.dumps(rows[-1]), flush=True)
  print(
    f"\n{workdir} ({_SPLIT.value}, {len(refs)} sentences, batch {config.train.eval_batch_size})\n"
  )
  print("| search | BLEU | exact match % | sentences/s |\n|---|---|---|---|")
  for r in rows:
    print(
      f"| {r['search']} | {r['bleu']:.2f} | {r['exact_match']:.1f} | "
      f"{r['sentences_per_second']:.0f} |"
    )


if __name__ == "__main__":
  app.run(main_)
