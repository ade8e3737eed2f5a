#!/usr/bin/env bash
# Fuzzes the decode-and-analyse path (fuzz/fuzz_targets/decode_analyse.rs) with libFuzzer.
#   tools/fuzz.sh [SECONDS=1800] [extra libFuzzer flags]
#   tools/fuzz.sh 1800 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
#                                  # keep going after a finding (how the campaigns were run)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds: every fixture
# in tests/fixtures (prefixed with the byte that selects its extension) plus the regression
# inputs in tests/fuzz_regressions. Crashers land in fuzz/artifacts/decode_analyse/: copy them
# to tests/fuzz_regressions/ (tests/suite/fuzz_regressions.rs replays each one in `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-1800}
shift || true
CORPUS=fuzz/corpus/decode_analyse
mkdir -p "$CORPUS"
# The same order as EXTENSIONS in the fuzz target.
exts=(wav mp3 flac ogg opus m4a webm mka aiff caf mp4 aac)
for f in tests/fixtures/*; do
  ext="${f##*.}"
  for i in "${!exts[@]}"; do
    if [ "${exts[$i]}" = "$ext" ]; then
      { printf "\\x$(printf %02x "$i")"; cat "$f"; } > "$CORPUS/seed_$(basename "$f")"
    fi
  done
done
cp tests/fuzz_regressions/* "$CORPUS/" 2>/dev/null || true
cargo +nightly fuzz run decode_analyse "$CORPUS" -- \
  -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -timeout=30 -max_len=262144 \
  -print_final_stats=1 "$@"
