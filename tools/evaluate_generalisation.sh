#!/usr/bin/env bash
# Generalisation checks beyond tools/evaluate_textures.sh (docs/MEASURED.md, ninth session):
#   data/general_ms        280 songs, every texture, in MuseScore General (a report only: never
#                          train or tune on it), 560 hums by held-out singers (seed 81)
#   data/ensembles_timgm   112 four-part and inner-voice songs in TimGM6mb (kept out of training;
#                          a set choices may be made on), 224 hums (seed 85)
#   data/dev_unusual       150 standard songs, 450 hums by singers outside every pool (seed 83),
#                          and the same songs' hums by held-out singers (manifest_heldout.csv)
# Indexes each with the shipped models and prints hums and oracle tables. About 25 minutes on 2
# cores from nothing. Needs a release build, timgm6mb-soundfont, apt access (MuseScore's font is
# fetched with `apt-get download`, not installed) and tools/.venv (tools/setup_python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EARWORM_BIN:-target/release/earworm}
font=data/fonts/MuseScore_General.sf2
if [ ! -f "$font" ]; then
  mkdir -p data/fonts/deb
  (cd data/fonts/deb && apt-get download musescore-general-soundfont)
  dpkg -x data/fonts/deb/musescore-general-soundfont_*.deb data/fonts/deb/root
  tools/setup_python.sh
  tools/.venv/bin/python tools/sf3_to_sf2.py \
    data/fonts/deb/root/usr/share/sounds/sf3/MuseScore_General_Full.sf3 "$font" --bake-velocity 100
fi
[ -f data/general_ms/manifest.csv ] || "$bin" synth devset --split dev --songs 280 \
  --queries-per-song 2 --seed 81 --voices heldout --soundfont "$font" \
  --textures standard,homophonic,inner_voice,dense_band,passed,sung_lead,produced --out data/general_ms
EARWORM_BIN=$bin tools/make_eval_set.sh ensembles_timgm
if [ ! -f data/dev_unusual/manifest_heldout.csv ]; then
  "$bin" synth devset --split dev --songs 150 --queries-per-song 3 --seed 83 --voices unusual \
    --out data/dev_unusual
  # The same songs (same seed) with held-out singers: only their hums are kept.
  "$bin" synth devset --split dev --songs 150 --queries-per-song 3 --seed 83 --voices heldout \
    --out data/dev_unusual/heldout_set
  mv data/dev_unusual/heldout_set/hums data/dev_unusual/hums_heldout
  sed 's|^hums/|hums_heldout/|' data/dev_unusual/heldout_set/manifest.csv \
    > data/dev_unusual/manifest_heldout.csv
  rm -rf data/dev_unusual/heldout_set
fi
mkdir -p runs
for set in general_ms ensembles_timgm dev_unusual; do
  "$bin" index --db "runs/db_${set}_shipped" "data/$set/songs"
done
for set in general_ms ensembles_timgm; do
  "$bin" eval --db "runs/db_${set}_shipped" --manifest "data/$set/manifest.csv" \
    --report "runs/${set}_shipped_hums.json"
  "$bin" eval --db "runs/db_${set}_shipped" --manifest "data/$set/manifest.csv" --oracle sine \
    --report "runs/${set}_shipped_sine.json"
  for r in hums sine; do
    echo "== ${set} ${r}"; python3 tools/report_table.py "runs/${set}_shipped_${r}.json" --by texture
  done
done
for m in manifest manifest_heldout; do
  "$bin" eval --db runs/db_dev_unusual_shipped --manifest "data/dev_unusual/$m.csv" \
    --report "runs/dev_unusual_shipped_${m}.json"
  # Queries 0-224 were used for choosing (the query pitch range), 225-449 are reported.
  echo "== dev_unusual ${m} (reported half)"
  python3 tools/report_table.py "runs/dev_unusual_shipped_${m}.json" --from 225 --by difficulty
done
