#!/usr/bin/env bash
# Makes evaluation sets that are missing (one place for their commands; tools/evaluate_textures.sh,
# tools/evaluate_generalisation.sh and tools/choosing_sets.sh call it):
#   stress           texture-stress set: 392 dev-melody songs, 56 per texture, 784 hums (seed 21)
#   stress_more      608 more stress songs, 1,216 hums, the same command as stress with 1,000 songs
#                    (its first 392 songs are stress's, kept in the library as distractors; the
#                    manifest holds only the new songs' hums): a larger choosing set, since one
#                    query moves a 56-query texture by 1.8 points (eighteenth session)
#   dev200           the first 200 songs of the dev set and their 600 hums (seed 1)
#   testset          150 random melodies over additive-synthesis instruments (seed 2)
#   testset2         300 more of them (seed 7), 300 hums: a fresh choosing set (seventeenth session)
#   ensembles_timgm  112 four-part and inner-voice songs in TimGM6mb, 224 hums (seed 85)
#   dev_synth1       100 songs in an unheard synthetic font (seed 161), 200 hums (seed 261)
#   dev_synth2       the same in another unheard font (seed 162), 200 hums (seed 262): reported,
#                    never chosen on
#   dev_general      generalisation set: dev200's melodies in TimGM6mb, 600 hums by held-out
#                    singers (seed 1): reported, never chosen on
# usage: tools/make_eval_set.sh SET...   (a set whose manifest.csv exists is left as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EARWORM_BIN:-target/release/earworm}
for set in "$@"; do
  [ -f "data/$set/manifest.csv" ] && continue
  case $set in
    stress) "$bin" synth devset --textures stress --songs 392 --queries-per-song 2 --seed 21 --out data/stress ;;
    stress_more)
      "$bin" synth devset --textures stress --songs 1000 --queries-per-song 2 --seed 21 --out data/stress_more
      mv data/stress_more/manifest.csv data/stress_more/manifest_all.csv
      # Songs are numbered in order (dev_00000 ...): keep the hums of songs 392 onwards.
      awk -F, 'NR == 1 || (match($2, /dev_[0-9]+/) && substr($2, RSTART + 4, RLENGTH - 4) + 0 >= 392)' \
        data/stress_more/manifest_all.csv > data/stress_more/manifest.csv ;;
    dev200) "$bin" synth devset --split dev --songs 200 --queries-per-song 3 --seed 1 --out data/dev200 ;;
    dev_general) "$bin" synth devset --split dev --songs 200 --queries-per-song 3 --seed 1 \
      --soundfont /usr/share/sounds/sf2/TimGM6mb.sf2 --voices heldout --out data/dev_general ;;
    testset) "$bin" synth testset --out data/testset --songs 150 --difficulty clean,medium,hard --seed 2 ;;
    testset2) "$bin" synth testset --out data/testset2 --songs 300 --difficulty clean,medium,hard --seed 7 ;;
    ensembles_timgm) "$bin" synth devset --split dev --songs 112 --queries-per-song 2 --seed 85 --voices heldout \
      --soundfont /usr/share/sounds/sf2/TimGM6mb.sf2 --textures homophonic,inner_voice --out data/ensembles_timgm ;;
    dev_synth1 | dev_synth2)
      k=${set#dev_synth}
      font=data/fonts_synth/synth_timbres_16$k.sf2
      mkdir -p data/fonts_synth
      if [ ! -f "$font" ]; then
        tools/setup_python.sh
        tools/.venv/bin/python tools/synth_timbres.py --seed "16$k" --out "$font"
      fi
      "$bin" synth devset --split dev --songs 100 --queries-per-song 2 --seed "26$k" --voices heldout \
        --soundfont "$font" --textures homophonic,inner_voice,dense_band --out "data/$set" ;;
    *) echo "unknown set $set (stress, stress_more, dev200, dev_general, testset, testset2, ensembles_timgm, dev_synth1, dev_synth2)" >&2; exit 2 ;;
  esac
done
