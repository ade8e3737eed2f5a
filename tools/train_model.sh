#!/usr/bin/env bash
# Reproduces the shipped model (models/melody.safetensors + melody.card.json) from a clean
# checkout: data, training, dev-set evaluation, metrics into the model card. About 1.5 hours on
# a 2-core CPU (data ~25 min, training ~25 min per variant with both variants side by side,
# evaluation ~20 min). Pass SKIP_ABLATION=1 to train only the shipped (triplet + confidence) model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/make_data.sh
bin=target/release/earworm
STEPS=${STEPS:-800}
train() { # name confidence-weight
  RAYON_NUM_THREADS=1 "$bin" train --data data/pairs/train --dev data/pairs/dev --out "runs/$1" \
    --steps "$STEPS" --batch 64 --seed 1 --confidence-weight "$2" > "runs/$1.log" 2>&1
}
mkdir -p runs
train full 1 &
[ -n "${SKIP_ABLATION:-}" ] || train triplet 0 &
wait
cp runs/full/melody.safetensors runs/full/melody.card.json models/

evaluate() { # model-dir db manifest report method
  EARWORM_MODEL_DIR="$1" "$bin" index --db "$2" "$(dirname "$3")/songs"
  EARWORM_MODEL_DIR="$1" "$bin" eval --db "$2" --manifest "$3" --method "$5" --report "$4"
}
evaluate models runs/db_dev data/dev/manifest.csv runs/eval_dev_learned.json learned
evaluate models runs/db_dev data/dev/manifest.csv runs/eval_dev_baseline.json baseline
evaluate models runs/db_general data/dev_general/manifest.csv runs/eval_general_learned.json learned
[ -n "${SKIP_ABLATION:-}" ] || evaluate runs/triplet runs/db_dev_triplet data/dev/manifest.csv runs/eval_dev_triplet.json learned
python3 tools/card_metrics.py models/melody.card.json runs/eval_*.json
