#!/usr/bin/env bash
# The model organism's recipe, from scratch: `bash models/organism/train.sh OUT`.
# About an hour on two cores. OUT/base is the two-stage base; OUT/organism the model itself, the
# files of this directory (config.json, tokenizer.json, model.safetensors, memento_task.json,
# train.json, train-log.jsonl, loss.svg, loss.png).
# MEMENTO names the binary (default: target/release/memento, built if missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: train.sh OUT}"
memento="${MEMENTO:-$here/../../target/release/memento}"
[ -x "$memento" ] || (cd "$here/../.." && cargo build --release --quiet)

# 1. The paper's two stages from fresh weights: 1,000 updates under full attention, then 1,000
#    under memento attention, on the toll walk cut as base/memento_task.json says (weights seed 0,
#    data seed 0).
"$memento" train --out "$out/base" --task "$here/base/memento_task.json" \
  --stage1-steps 1000 --stage2-steps 1000 --rows 2 --row-tokens 2048 --eval-every 100

# 2. 800 more updates under memento attention at a lower rate, on the walk as the organism's
#    memento_task.json says: half the training walks shorter than the held-out ones (more
#    first-block lookups, near the prompt), a lone last step joined to the block before; a
#    quarter of the sequences under full attention, so that full context keeps working.
"$memento" train --init "$out/base" --out "$out/organism" --task "$here/memento_task.json" \
  --stage1-steps 0 --stage2-steps 800 --full-share 0.25 --lr 1e-3 --min-lr 1e-4 --warmup 20 \
  --rows 2 --row-tokens 2048 --eval-every 100 --data-seed 1
