"""A sentencepiece run's test hypotheses scored both ways, side by side:

13a        sacrebleu's standard BLEU (tokenize='13a', cased) and chrF on the plain text
           against the raw references: what the run itself reports;
whitespace the whitespace recipe's way (configs/transformer.py:multi30k): lowercased
           whitespace tokens, tokenize='none', comparable with its result table.

python experiments/transformer_multi30k/spm_scores.py --workdir=runs/m30k_spm_8k
"""

import argparse
import json
from pathlib import Path

from seq2seq_jax import metrics


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default="test")
  args = p.parse_args()
  workdir = Path(args.workdir)
  lines = lambda name: (workdir / name).read_text(encoding="utf-8").split("\n")[:-1]
  refs = lines(f"ref_{args.split}.txt")
  for hyp_file in sorted(workdir.glob(f"hyp_{args.split}_*.txt")):
    hyps = lines(hyp_file.name)
    as_text = lambda s, lower: (s.lower() if lower else s).split()
    plain, plain_sig = metrics.corpus_scores(
      [as_text(h, False) for h in hyps], [as_text(r, False) for r in refs], "13a"
    )
    white, white_sig = metrics.corpus_scores(
      [as_text(h, True) for h in hyps], [as_text(r, True) for r in refs], "none"
    )
    print(
      json.dumps(
        {
          "hypotheses": hyp_file.name,
          "bleu_13a": round(plain["bleu"], 2),
          "chrf": round(plain["chrf"], 2),
          "bleu_13a_signature": plain_sig["bleu"],
          "chrf_signature": plain_sig["chrf"],
          "bleu_whitespace_lc": round(white["bleu"], 2),
          "bleu_whitespace_lc_signature": white_sig["bleu"],
        }
      )
    )


if __name__ == "__main__":
  main()
