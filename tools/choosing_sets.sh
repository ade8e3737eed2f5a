#!/usr/bin/env bash
# Judges trial models on the sets choices may be made on, never on a reported half:
#   stress           texture-stress set, tuning half (queries 0-391; hums and oracle)
#   stress_more      608 more stress songs' 1,216 hums (hums and oracle) in a 1,000-song library:
#                    per texture ~174 queries, where the tuning half has 56 (eighteenth session)
#   dev200           standard dev songs, tuning half (queries 0-299; hums)
#   testset          additive-synthesis test songs, all 150 (hums)
#   testset2         300 more of them (hums): fresh in the seventeenth session, when every recent
#                    change had been chosen against the first 150 and any change lost a few there
#   ensembles_timgm  TimGM6mb four-part and inner-voice songs, 224 (hums and oracle)
#   dev_synth1       an unheard synthetic font (seed 161), 200 (hums and oracle)
# Makes a missing set first (tools/make_eval_set.sh), indexes it afresh with MODEL_DIR's
# models into runs/db_SET_TAG and writes runs/SET_TAG_{hums,sine}.json; with BASE=TAG2 prints
# each set's queries found first per texture as TAG2 -> TAG (tools/found_first.py).
#
# usage: tools/choosing_sets.sh MODEL_DIR TAG [SET...]      (default: all seven)
# e.g.   tools/choosing_sets.sh models shipped && BASE=shipped tools/choosing_sets.sh /tmp/trial t1
# About 15 minutes for the six other than stress_more (which takes about 10 more) on an idle 2-core machine once the sets exist (making them: 12).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,14p "$0"; exit 2; }
models=$1 tag=$2
shift 2
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(stress stress_more dev200 testset testset2 ensembles_timgm dev_synth1)
bin=${EARWORM_BIN:-target/release/earworm}
[ -x "$bin" ] || cargo build --release
mkdir -p runs
for set in "${sets[@]}"; do
  EARWORM_BIN=$bin tools/make_eval_set.sh "$set"
  manifest=data/$set/manifest.csv
  case $set in # the tuning halves: header + the first 392 / 300 queries
    stress) head -n 393 "$manifest" > data/stress/_tune.csv; manifest=data/stress/_tune.csv ;;
    dev200) head -n 301 "$manifest" > data/dev200/manifest_tune.csv; manifest=data/dev200/manifest_tune.csv ;;
  esac
  db=runs/db_${set}_$tag
  rm -rf "$db"
  EARWORM_MODEL_DIR=$models "$bin" index --db "$db" "data/$set/songs" > "runs/index_${set}_$tag.log" 2>&1
  kinds=(hums)
  case $set in stress | stress_more | ensembles_timgm | dev_synth1) kinds+=(sine) ;; esac
  for kind in "${kinds[@]}"; do
    oracle=()
    [ "$kind" = sine ] && oracle=(--oracle sine)
    EARWORM_MODEL_DIR=$models "$bin" eval --db "$db" --manifest "$manifest" "${oracle[@]}" \
      --report "runs/${set}_${tag}_${kind}.json" > /dev/null
    by=texture
    case $set in testset | testset2 | dev200) by=difficulty ;; esac
    reports=("runs/${set}_${tag}_${kind}.json")
    [ -n "${BASE:-}" ] && reports=("runs/${set}_${BASE}_${kind}.json" "${reports[@]}")
    echo "== $set, $kind, found first (${BASE:+$BASE -> }$tag)"
    python3 tools/found_first.py "${reports[@]}" --by "$by"
  done
done
