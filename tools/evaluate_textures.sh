#!/usr/bin/env bash
# Evaluates the shipped models on the texture-stress dev set and the (standard) dev set, and fits
# the calibrated confidence on their tuning halves:
#   data/stress   392 songs from dev melodies, 56 per stress texture, 784 hums (seed 21)
#   data/dev200   the first 200 songs of the dev set and their 600 hums (seed 1)
#   data/testset  150 random melodies over additive-synthesis instruments no model trained on
# Each set is split by song (so by melody) into a tuning half and a reported half: the calibration
# (and any setting) is fitted on the first, figures are reported on the second. About 40 minutes
# on 2 cores. Needs fluid-soundfont-gm, timgm6mb-soundfont, ffmpeg and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/earworm
EARWORM_BIN=$bin tools/make_eval_set.sh stress dev200 testset
mkdir -p runs
for set in stress dev200 testset; do
  "$bin" index --db "runs/db_${set}_shipped" "data/$set/songs"
  "$bin" eval --db "runs/db_${set}_shipped" --manifest "data/$set/manifest.csv" \
    --report "runs/${set}_shipped_hums.json"
done
"$bin" eval --db runs/db_stress_shipped --manifest data/stress/manifest.csv --oracle sine \
  --report runs/stress_shipped_sine.json
# Tuning halves: stress songs 0-195 (queries 0-391), dev200 songs 0-99 (queries 0-299).
python3 tools/slice_report.py runs/stress_shipped_hums.json 0 392 runs/fit_stress.json
python3 tools/slice_report.py runs/stress_shipped_hums.json 392 784 runs/check_stress.json
python3 tools/slice_report.py runs/dev200_shipped_hums.json 0 300 runs/fit_dev200.json
python3 tools/slice_report.py runs/dev200_shipped_hums.json 300 600 runs/check_dev200.json
"$bin" calibrate --fit runs/fit_stress.json --fit runs/fit_dev200.json \
  --check runs/check_stress.json --check runs/check_dev200.json \
  --out models/calibration.json --reliability runs/reliability.csv
tools/setup_python.sh
tools/.venv/bin/python tools/plot_reliability.py runs/reliability.csv docs/reliability.png
for r in stress_shipped_hums stress_shipped_sine; do
  echo "== $r (reported half)"; python3 tools/report_table.py "runs/$r.json" --from 392
done
echo "== testset_shipped_hums (additive-synthesis songs, all)"
python3 tools/report_table.py runs/testset_shipped_hums.json --by difficulty
echo "== dev200_shipped_hums (reported half)"
python3 tools/report_table.py runs/dev200_shipped_hums.json --from 300 --by difficulty
