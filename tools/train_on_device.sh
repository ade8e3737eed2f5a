#!/usr/bin/env bash
# One prepared training run for a short GPU slot (see docs/MEASURED.md, "GPU"): on the device
# machine, with no Rust toolchain, it unpacks the carried binary, synthesizes training pairs
# on all its cores from a SoundFont and the melody corpus in the repository, trains (or
# fine-tunes) the embedding, and leaves the weights, the model card and the logs in $OUT.
#
#   tools/train_on_device.sh [--binary target/cuda/earworm-cuda.xz] [--soundfont SF2]
#       [--songs 2000] [--hums-per-song 4] [--steps 3000] [--batch 256] [--init models]
#       [--textured 0.6] [--out DIR]
#
# --init DIR starts from the weights in DIR (fine-tuning); without it the model trains from
# scratch. --out defaults to $OUT (what the device tool brings back) or /tmp/earworm-train.
# Dry run on any machine: tools/train_on_device.sh --binary target/release/earworm --songs 8
#   --hums-per-song 2 --steps 4 --batch 8
set -euo pipefail
cd "$(dirname "$0")/.."
binary=target/cuda/earworm-cuda.xz
soundfont=/usr/share/sounds/sf2/FluidR3_GM.sf2
songs=2000 hums=4 steps=3000 batch=256 init="" textured=0.6 seed=21 pairs="" dev_pairs=""
out=${OUT:-/tmp/earworm-train}
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2 ;;
    --soundfont) soundfont=$2 ;;
    --songs) songs=$2 ;;
    --hums-per-song) hums=$2 ;;
    --steps) steps=$2 ;;
    --batch) batch=$2 ;;
    --init) init=$2 ;;
    --textured) textured=$2 ;;
    --seed) seed=$2 ;;
    --out) out=$2 ;;
    --pairs) pairs=$2 ;;
    --dev-pairs) dev_pairs=$2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$pairs" ] || [ -f "$soundfont" ] || { echo "error: SoundFont $soundfont not found (--soundfont; FluidR3 is 141 MB, more than a 64 MiB carry: it must be on the machine)" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$binary" in
  *.xz) xz -dc "$binary" > "$work/earworm"; chmod +x "$work/earworm"; earworm=$work/earworm ;;
  *) earworm=$binary ;;
esac
cores=$(nproc)
log() { echo "[$(date +%T)] $*" | tee -a "$out/device_run.log"; }
log "$("$earworm" info 2>&1 | tr '\n' ' ')"
started=$(date +%s)
if [ -n "$pairs" ]; then
  log "training on the pairs in $pairs"
else
  pairs=$work/pairs
  log "synthesizing $songs songs x $hums hums on $cores cores"
  "$earworm" synth pairs --split train --voices train --songs "$songs" --hums-per-song "$hums" \
    --seed "$seed" --textured "$textured" --soundfont "$soundfont" --threads "$cores" \
    --out "$pairs" 2>&1 | tail -3 | tee -a "$out/device_run.log"
  log "data made in $(( $(date +%s) - started )) s"
fi
dev=()
[ -n "$dev_pairs" ] && dev=(--dev "$dev_pairs")
run=$work/run
mkdir -p "$run"
if [ -n "$init" ]; then
  # A checkpoint at step 0 with the given weights: the trainer resumes from it.
  cp "$init/melody.safetensors" "$run/checkpoint.safetensors"
  echo '{"step": 0, "elapsed_s": 0.0}' > "$run/checkpoint.json"
fi
"$earworm" train --data "$pairs" "${dev[@]}" --out "$run" --steps "$steps" --batch "$batch" \
  --batch-workers "$(( cores > 2 ? cores - 2 : 1 ))" 2>&1 | tee "$out/train_stdout.log" | tail -5
cp "$run"/melody.safetensors "$run"/melody.card.json "$run"/train_log.jsonl "$out/"
log "done in $(( $(date +%s) - started )) s: $out/melody.safetensors"
grep pairs_per_s "$out/train_log.jsonl" | tail -3 | tee -a "$out/device_run.log"
