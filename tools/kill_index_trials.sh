#!/usr/bin/env bash
# Crash safety, measured: kills `earworm index` with SIGKILL at random moments and checks, after
# every kill, that the catalog opens and passes `library --check`, that no song committed before
# the kill is lost, that the next run does not re-analyse committed files, and (in every trial)
# that a query run while indexing is in progress answers.
#
#   tools/kill_index_trials.sh [TRIALS=20] [SONGS=60] [WORK=/tmp/earworm-kill]
# Needs a release build (target/release/earworm) and sqlite3 is not needed: counts come from
# `earworm library`. Prints one line per trial and a summary; exits 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-20}
SONGS=${2:-60}
WORK=${3:-/tmp/earworm-kill}
BIN=${EARWORM_BIN:-target/release/earworm}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }

mkdir -p "$WORK"
if [ ! -f "$WORK/set/manifest.csv" ]; then
  "$BIN" synth testset --out "$WORK/set" --songs "$SONGS" --queries-per-song 1 --difficulty medium --seed 11 >/dev/null 2>&1
fi
LIB="$WORK/set/songs"
HUM=$(sed -n 2p "$WORK/set/manifest.csv" | cut -d, -f1)
HUM="$WORK/set/$HUM"
TARGET=$(sed -n 2p "$WORK/set/manifest.csv" | cut -d, -f2); TARGET=${TARGET##*/}
total=$(ls "$LIB" | wc -l)

songs_in() { "$BIN" library --db "$1" 2>/dev/null | sed -n 's/^\([0-9][0-9]*\) songs.*/\1/p' | head -1; }

fail=0; lost_total=0; reanalysed_total=0; queries_ok=0; kills=0
for trial in $(seq 1 "$TRIALS"); do
  DB="$WORK/db$trial"
  rm -rf "$DB"
  # Index, kill at a random moment; in some trials twice, so a kill can land in a resumed run.
  rounds=$(( (trial % 3 == 0) ? 2 : 1 ))
  for round in $(seq 1 $rounds); do
    "$BIN" index --db "$DB" --threads 2 "$LIB" >"$WORK/index.log" 2>&1 &
    pid=$!
    delay=$(python3 -c "import random; random.seed($trial*7+$round); print(round(random.uniform(0.3, 9.0), 2))")
    sleep 0.3
    # A query while the index is being written must answer (one JSON array, exit 0), once
    # there is anything to search.
    if [ "$round" = 1 ]; then
      sleep 1.5
      if out=$("$BIN" query --db "$DB" --json "$HUM" 2>"$WORK/query.err"); then
        echo "$out" | python3 -c "import json,sys; a=json.load(sys.stdin); assert isinstance(a,list) and len(a)==1" && queries_ok=$((queries_ok+1))
      elif grep -q "is empty" "$WORK/query.err"; then
        queries_ok=$((queries_ok+1))   # nothing committed yet: the documented answer
      else
        echo "trial $trial: query during indexing failed: $(cat "$WORK/query.err")"; fail=1
      fi
    fi
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills+1)); fi
    wait "$pid" 2>/dev/null || true
  done
  if ! "$BIN" library --db "$DB" --check >"$WORK/check.log" 2>&1; then
    echo "trial $trial: catalog check failed: $(tail -3 "$WORK/check.log")"; fail=1; continue
  fi
  before=$(songs_in "$DB"); before=${before:-0}
  # The next run completes, and only what was not committed is analysed.
  "$BIN" index --db "$DB" --threads 2 "$LIB" >"$WORK/resume.log" 2>&1 || { echo "trial $trial: resume failed"; fail=1; continue; }
  after=$(songs_in "$DB"); after=${after:-0}
  added=$(sed -n 's/.* \([0-9][0-9]*\) added.*/\1/p' "$WORK/resume.log" | tail -1); added=${added:-0}
  unchanged=$(sed -n 's/.* \([0-9][0-9]*\) unchanged.*/\1/p' "$WORK/resume.log" | tail -1); unchanged=${unchanged:-0}
  lost=$(( before - unchanged )); [ $lost -lt 0 ] && lost=0
  reanalysed=$(( added + before - total > 0 ? added + before - total : 0 ))
  lost_total=$((lost_total + lost)); reanalysed_total=$((reanalysed_total + reanalysed))
  # Every committed song is still searchable: the hum of song 0 finds it when it was committed.
  q=$("$BIN" query --db "$DB" --json "$HUM" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['results'][0]['path'].rsplit('/',1)[-1])")
  printf 'trial %2d: kills %d, committed before resume %3d, resume: %3d unchanged + %3d added = %3d of %d; top hit %s\n' \
    "$trial" "$rounds" "$before" "$unchanged" "$added" "$after" "$total" "$q"
  [ "$after" = "$total" ] || { echo "trial $trial: library incomplete after resume"; fail=1; }
  [ "$q" = "$TARGET" ] || { echo "trial $trial: the hum found $q, not $TARGET"; fail=1; }
  [ "$lost" = 0 ] || { echo "trial $trial: $lost committed songs re-analysed or lost"; fail=1; }
done
echo "summary: $TRIALS trials, $kills kills, songs lost or re-analysed: $lost_total, queries during indexing answered: $queries_ok/$TRIALS"
exit $fail
