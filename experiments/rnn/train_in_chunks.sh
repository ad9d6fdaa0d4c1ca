#!/usr/bin/env bash
# Trains a config in chunks of CHUNK optimiser steps, each a separate process that resumes
# exactly from WORKDIR (train.stop_after_steps), so no single job holds a shared machine
# for long. Stops when a chunk finishes the run (and its test report).
#   experiments/rnn/train_in_chunks.sh configs/bigru_beam.py:multi30k runs/bigru_beam_multi30k 300
set -euo pipefail
config=$1; workdir=$2; chunk=$3; shift 3
stop=0
while true; do
  stop=$((stop + chunk))
  out=$(python -m seq2seq_jax.main --config="$config" --workdir="$workdir" \
        --config.train.stop_after_steps="$stop" "$@" 2>&1 | tee -a "$workdir.log" | tr '\r' '\n' \
        | grep -v '^epoch [0-9]*:' || true)
  if ! grep -q "stopped at step" <<<"$out"; then
    grep -E "result:|error" <<<"$out" || true
    break
  fi
  echo "chunk done: step $stop"
done
