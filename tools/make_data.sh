#!/usr/bin/env bash
# Regenerates all data Earworm is trained and evaluated on, from the committed melody corpus
# (re-exported from music21 first when assets/melodies/melodies.jsonl.gz is missing):
#   data/pairs/train   training pairs (train melodies, training singers, FluidR3 GM)
#   data/pairs/dev     pairs from dev melodies, for the retrieval check logged while training
#   data/dev           the dev set: 500 songs (dev melodies) + 1,500 hums, manifest.csv
#   data/dev_general   generalisation check: the first 200 of those dev melodies rendered with
#                      TimGM6mb (a SoundFont never trained on), 600 hums by held-out singers
#                      (tools/make_eval_set.sh dev_general)
# Resumable: pair shards already written are kept. Needs fluid-soundfont-gm and
# timgm6mb-soundfont (apt), and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f assets/melodies/melodies.jsonl.gz ] || {
  tools/setup_python.sh
  tools/.venv/bin/python tools/export_melodies.py assets/melodies/melodies.jsonl.gz
}
cargo build --release
bin=target/release/earworm
time "$bin" synth pairs --split train --voices train --songs 2000 --hums-per-song 4 --seed 7 --out data/pairs/train
time "$bin" synth pairs --split dev --voices all --songs 300 --hums-per-song 1 --seed 8 --out data/pairs/dev
[ -f data/dev/manifest.csv ] || time "$bin" synth devset --split dev --songs 500 --queries-per-song 3 --seed 1 --out data/dev
EARWORM_BIN=$bin tools/make_eval_set.sh dev_general
du -sh data/pairs/train data/pairs/dev data/dev data/dev_general
