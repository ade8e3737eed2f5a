#!/usr/bin/env bash
# Melody tracker training in one short GPU slot (docs/MEASURED.md, "GPU"). On the device machine,
# with no Rust toolchain, it unpacks the carried cuda binary, renders tracker pairs on all its
# cores from the carried FluidR3 subset (tools/sf2_subset.py: FluidR3 itself is more than a call
# may carry), measures the training speed, then fine-tunes the tracker for as many steps as the
# time left allows, and leaves the weights, card and logs in $OUT.
#
# Prepare here (a GPU-less machine; .device/ is git-ignored), then run there with .device carried
# (the repository, binary, libasound and subset together just fit the 64 MiB a call carries):
#   tools/build_cuda.sh; mkdir -p .device/lib; cp target/cuda/earworm-cuda.xz .device/
#   cp -L /usr/lib/x86_64-linux-gnu/libasound.so.2 .device/lib/
#   tools/.venv/bin/python tools/sf2_subset.py /usr/share/sounds/sf2/FluidR3_GM.sf2 .device/FluidR3_subset.sf2
#   (device) tools/train_tracker_on_device.sh [--budget-s 540] [--songs 2400] [--seed 61]
#            [--batch 128] [--blocks 8] [--lr 0.0003] [--init models/tracker.safetensors]
#            [--steps N]   (N fixed: no speed probe; without it the steps fill the budget)
#            [--second-voice]   (the second-voice tracker: its labels, descant-weighted textures,
#                                and models/second_voice.safetensors to start from)
# The same script trains on any machine's CPU with --binary (the shipped stage took 13,600 steps
# of 128 excerpts: about a day on 2 cores).
# Dry run here: tools/train_tracker_on_device.sh --binary target/release/earworm --songs 8 --dev-songs 4
#   --budget-s 120 --batch 4
set -uo pipefail
cd "$(dirname "$0")/.."
carry=.device
songs=2400 dev_songs=60 seed=61 budget_s=540 batch=128 blocks=8 lr=0.0003
init="" binary="" steps="" second_voice=""
while [ $# -gt 0 ]; do
  case "$1" in
    --songs) songs=$2 ;;
    --dev-songs) dev_songs=$2 ;;
    --seed) seed=$2 ;;
    --budget-s) budget_s=$2 ;;
    --batch) batch=$2 ;;
    --blocks) blocks=$2 ;;
    --lr) lr=$2 ;;
    --init) init=$2 ;;
    --binary) binary=$2 ;;
    --steps) steps=$2 ;;
    --second-voice) second_voice=1; shift; continue ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
final=${OUT:-/tmp/tracker_device}
mkdir -p "$final"
exec > >(tee -a "$final/tracker_device.log") 2>&1
stamp() { echo "=== [$(date +%T), $(elapsed) s] $*"; }
. tools/device_env.sh
font=$carry/FluidR3_subset.sf2
[ -f "$font" ] || { echo "error: $font missing (tools/sf2_subset.py)"; exit 1; }
cores=$(nproc)
work=/tmp/tracker-work
rm -rf "$work"; mkdir -p "$work"
if [ -z "$second_voice" ]; then
  # The textures of the tracker's last CPU stage (tools/train_model.sh stage 4), no descants.
  init=${init:-models/tracker.safetensors}
  textures=homophonic,homophonic,inner_voice,dense_band,dense_band,sung_lead,produced,passed
  dev_textures=homophonic,inner_voice,dense_band,sung_lead,produced,passed
  labels=(--no-descants)
else
  # Weighted towards inner voices (half of them under a descant), as stages 5 and 6.
  init=${init:-models/second_voice.safetensors}
  textures=inner_voice,inner_voice,inner_voice,inner_voice,inner_voice,homophonic,homophonic,homophonic,dense_band,sung_lead,produced,passed
  dev_textures=$textures
  labels=(--labels second-voice)
fi
stamp "rendering $songs training songs and $dev_songs dev songs on $cores cores"
# New melodies by seed. The rendering may take at most a third of the budget (finished shards of
# 100 songs are kept), unless --steps fixes the run.
render_limit=$(( budget_s / 3 ))
[ -z "$steps" ] || render_limit=$(( 36 * 3600 ))
timeout "$render_limit" "$bin" synth pairs --split train --voices train --songs "$songs" \
  --hums-per-song 0 --seed "$seed" --textured 0.9 \
  --textures "$textures" "${labels[@]}" --soundfont "$font" --threads "$cores" --out "$work/pairs" 2>&1 | tail -n 2
"$bin" synth pairs --split dev --voices heldout --songs "$dev_songs" --hums-per-song 0 \
  --seed $(( seed + 1 )) --textured 0.9 \
  --textures "$dev_textures" "${labels[@]}" --soundfont "$font" --threads "$cores" --out "$work/dev" 2>&1 | tail -n 1
ls "$work/pairs"
# The commands that made the data, as the cards record them (tools/tracker_stage_card.py): a
# render cut short by its time limit kept whole shards of 100 songs, the first ones of the seed.
rendered=$(( $(ls "$work/pairs" | wc -l) * 100 ))
[ "$rendered" -lt "$songs" ] || rendered=$songs
cat > "$final/data_commands.txt" <<COMMANDS
earworm synth pairs --split train --voices train --songs $rendered --hums-per-song 0 --seed $seed --textured 0.9 --textures $textures ${labels[*]} --soundfont $font
earworm synth pairs --split dev --voices heldout --songs $dev_songs --hums-per-song 0 --seed $(( seed + 1 )) --textured 0.9 --textures $dev_textures ${labels[*]} --soundfont $font (dev accuracy only)
COMMANDS
common=(--data "$work/pairs" --dev "$work/dev" --batch "$batch" --blocks "$blocks" --lr "$lr" --init "$init")
if [ -z "$steps" ]; then
  stamp "speed probe (300 steps; its dev accuracy at step 100 is close to the starting weights')"
  timeout 150 "$bin" train-tracker "${common[@]}" --out "$work/probe" --steps 100000 --stop-after 300 \
    --seed 1 2>&1 | tail -n 2
  cp "$work/probe/tracker_log.jsonl" "$final/probe_log.jsonl" 2>/dev/null
  rate=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "step" in r and "elapsed_s" in r]
a = next(r for r in rows if r["step"] >= 100); b = rows[-1]
print("%.3f" % ((b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])))' "$work/probe/tracker_log.jsonl") || rate=""
  [ -n "$rate" ] || { echo "speed probe failed"; exit 4; }
  left=$(( budget_s - $(elapsed) - 25 ))
  steps=$(python3 -c "print(max(100, int($rate * $left * 0.9) // 100 * 100))")
  stamp "$rate steps/s; $left s left: $steps steps"
else
  left=$(( 36 * 3600 ))
  stamp "$steps steps"
fi
timeout $(( left + 15 )) "$bin" train-tracker "${common[@]}" --out "$work/run" --steps "$steps" \
  --seed "$seed" 2>&1 | tail -n 3
for f in tracker.safetensors tracker.card.json tracker_log.jsonl tracker_checkpoint.safetensors tracker_checkpoint.json; do
  [ -f "$work/run/$f" ] && cp "$work/run/$f" "$final/"
done
tail -n 2 "$final/tracker_log.jsonl"
stamp "done"
