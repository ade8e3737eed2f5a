#!/usr/bin/env bash
# The GPU issue's measurements as one prepared run on a GPU machine with no Rust toolchain
# (docs/MEASURED.md, "GPU"). The same cuda binary runs on the GPU and, with EARWORM_DEVICE=cpu,
# on that machine's CPU cores, so every comparison is one build:
#   1. which device is used and why (`earworm info`, both ways);
#   2. embedding speed (`earworm bench embed`) on the demo songs;
#   3. the demo library (and, when TimGM6mb was carried, a 200-song dev library made there):
#      indexing time, query latency and answers, GPU against CPU (answers must agree);
#   4. training throughput (pairs/s) from a carried pair shard: hum features on the device or
#      on the threads, batch 256 and 1024;
#   5. a short fine-tune of the shipped model (tools/train_on_device.sh) whose weights come back.
# Everything lands in $OUT (the device tool brings it back), as it goes.
#
# Prepare here (a GPU-less machine), then run there with the folder carried:
#   tools/build_cuda.sh && tools/device_check.sh --prepare TRAIN_PAIRS [DEV_PAIRS]
#   (fills the gitignored .device/: the binary, libasound, TimGM6mb, the pair shards as tar.xz)
#   (device) tools/device_check.sh [--fine-tune-steps N] [--dev-songs 200] [--speed-only]
#            [--speed-songs N]   (N songs rendered there with TimGM6mb for the speed runs alone)
#   (the fine-tune's steps default to about two minutes at the measured GPU rate)
# Dry run here: tools/device_check.sh --binary target/cuda/release/earworm --quick
#   --fine-tune-steps 4 (libcuda stub and wheel libraries on LD_LIBRARY_PATH: all on the CPU;
#   --quick trains 4 steps of 8 pairs where the real run measures speed)
set -uo pipefail
cd "$(dirname "$0")/.."
carry=.device
finetune_steps=1500 finetune_set=""
dev_songs=200
if [ "${1:-}" = "--prepare" ]; then
  set -e
  mkdir -p "$carry/lib"
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
  cp target/cuda/earworm-cuda.xz "$carry/"
  # The GPU image has no ALSA library; the binary links it (the microphone).
  cp -L /usr/lib/x86_64-linux-gnu/libasound.so.2 "$carry/lib/"
  # Songs for a larger dev library there (TimGM6mb: evaluation only, never training), when the
  # carry has room for its 6 MB: DEV_LIBRARY=1.
  [ -z "${DEV_LIBRARY:-}" ] || cp /usr/share/sounds/sf2/TimGM6mb.sf2 "$carry/"
  # Pair shards (`earworm synth pairs`, rendered with FluidR3 here), compressed to fit the carry.
  [ -d "${2:-}" ] || { echo "usage: $0 --prepare TRAIN_PAIRS_DIR [DEV_PAIRS_DIR]" >&2; exit 2; }
  tar -C "$2" -cf - . | xz -T0 -6 > "$carry/pairs.tar.xz"
  [ -z "${3:-}" ] || tar -C "$3" -cf - . | xz -T0 -6 > "$carry/pairs_dev.tar.xz"
  du -sh "$carry"/*
  exit 0
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --fine-tune-steps) finetune_steps=$2; finetune_set=1; shift 2 ;;
    --dev-songs) dev_songs=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --speed-only) speed_only=1; shift ;;
    --speed-songs) speed_songs=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
# The device tool brings back at most 8 files: the log, and everything else as results.tar,
# re-packed after each part so that a run cut short still returns what it measured.
final=${OUT:-/tmp/device_check}
out=/tmp/device_check_results
rm -rf "$out"
mkdir -p "$final" "$out"
exec > >(tee -a "$final/device_check.log") 2>&1
stamp() { tar -C "$out" -cf "$final/results.tar" . 2>/dev/null; echo "=== [$(date +%T)] $*"; }
. tools/device_env.sh
stamp "setup: cuda libraries in $cu13; $(nproc) cores"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if ldd "$bin" | grep "not found"; then echo "missing libraries: stop"; exit 3; fi
data=/tmp/earworm-data
mkdir -p "$data/pairs" "$data/pairs_dev"
[ -f "$carry/pairs.tar.xz" ] && xz -dc "$carry/pairs.tar.xz" | tar -C "$data/pairs" -xf -
[ -f "$carry/pairs_dev.tar.xz" ] && xz -dc "$carry/pairs_dev.tar.xz" | tar -C "$data/pairs_dev" -xf -


if [ -z "${speed_only:-}" ]; then
stamp "1. device"
time "$bin" info 2>&1 | grep -i -E "device|model|tracker"
EARWORM_DEVICE=cpu "$bin" info 2>&1 | grep -i device

stamp "2. embedding speed, demo songs"
for dev in cuda cpu; do
  EARWORM_DEVICE=$dev "$bin" bench embed --passes 3 --json assets/demo/songs/* > "$out/embed_$dev.json" &&
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(sys.argv[2], s['device'], '%.0f windows/s network, %.0fx real time in all' % (s['windows']/s['network_s'], s['audio_s']/(s['spectrogram_s']+s['features_s']+s['network_s'])))" "$out/embed_$dev.json" "$dev"
done

# Index a library both ways, then query it both ways; answers must agree.
library_check() { # name songs_dir manifest
  local name=$1 songs=$2 manifest=$3
  for dev in cuda cpu; do
    rm -rf "$data/db_${name}_$dev"
    /usr/bin/time -f "index $name $dev: %e s wall, %M KB" env EARWORM_DEVICE=$dev \
      "$bin" index --db "$data/db_${name}_$dev" "$songs" > "$out/index_${name}_$dev.txt" 2>&1
    tail -1 "$out/index_${name}_$dev.txt"
    EARWORM_DEVICE=$dev "$bin" eval --db "$data/db_${name}_$dev" --manifest "$manifest" \
      --report "$out/eval_${name}_$dev.json" 2>&1 | tail -4
  done
  python3 tools/compare_device_reports.py "$out/eval_${name}_cuda.json" "$out/eval_${name}_cpu.json"
}
stamp "3a. demo library, GPU vs CPU"
library_check demo assets/demo/songs assets/demo/manifest.csv
if [ -f "$carry/TimGM6mb.sf2" ]; then
  stamp "3b. $dev_songs dev songs (TimGM6mb), GPU vs CPU"
  "$bin" synth devset --split dev --songs "$dev_songs" --queries-per-song 1 --seed 5 --voices heldout \
    --soundfont "$carry/TimGM6mb.sf2" --out "$data/dev200" 2>&1 | tail -1
  library_check dev200 "$data/dev200/songs" "$data/dev200/manifest.csv"
fi
fi

stamp "4. training throughput (pairs/s every 25 steps; the first window includes warm-up)"
speed_data=$data/pairs
if [ -n "${speed_songs:-}" ] && [ -f "$carry/TimGM6mb.sf2" ]; then
  # A batch holds each song once, so large batches need many songs; rendered here with the small
  # TimGM6mb for the speed runs alone: their weights are thrown away, never a model.
  speed_data=$data/speed_pairs
  "$bin" synth pairs --split train --voices train --songs "$speed_songs" --hums-per-song 1 \
    --seed 90 --textured 0.6 --soundfont "$carry/TimGM6mb.sf2" --out "$speed_data" 2>&1 | tail -1
fi
train_speed() { # label device hum_features batch steps
  rm -rf "$data/speed"
  [ -z "${quick:-}" ] || set -- "$1" "$2" "$3" 8 4
  EARWORM_DEVICE=$2 timeout 150 "$bin" train --data "$speed_data" --out "$data/speed" --steps "$5" \
    --batch "$4" --hum-features "$3" --warmup 10 2>&1 | grep -E "threads|pairs_per_s|warning" |
    python3 -c "
import json, sys
rates = []
for line in sys.stdin:
    line = line.strip()
    if line.startswith('{'):
        rates.append(round(json.loads(line)['pairs_per_s']))
    else:
        print('  ', line)
print('$1:', rates, 'pairs/s')
open('$data/last_rate', 'w').write(str(rates[-1] if rates else 0))"
}
train_speed "GPU, batch 256, hum features on the GPU" cuda device 256 100
gpu_rate=$(cat "$data/last_rate" 2>/dev/null || echo 0)
train_speed "GPU, batch 256, hum features on the threads" cuda cpu 256 75
train_speed "GPU, batch 1024, hum features on the GPU" cuda device 1024 50
train_speed "GPU, batch 1024, hum features on the threads" cuda cpu 1024 50
[ -n "${speed_only:-}" ] || train_speed "CPU (all cores), batch 64, hum features on the threads" cpu cpu 64 50

# About two minutes of training at the measured rate, unless set.
[ -n "$finetune_set" ] || finetune_steps=$(( gpu_rate * 120 / 256 < 200 ? 200 : (gpu_rate * 120 / 256 > 3000 ? 3000 : gpu_rate * 120 / 256) ))
if [ -z "${speed_only:-}" ] && [ -n "$(ls "$data/pairs")" ]; then
stamp "5. fine-tune the shipped model for $finetune_steps steps"
dev_pairs=()
[ -n "$(ls "$data/pairs_dev")" ] && dev_pairs=(--dev-pairs "$data/pairs_dev")
tools/train_on_device.sh --binary "$bin" --pairs "$data/pairs" "${dev_pairs[@]}" --init models \
  --steps "$finetune_steps" --batch "$([ -n "${quick:-}" ] && echo 8 || echo 256)" --out "$out/finetune"
fi
stamp "done"
