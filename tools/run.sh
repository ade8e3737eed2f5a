#!/usr/bin/env bash
# The README's run command: installs the system packages the build needs (once), then builds
# and starts the desktop app. Arguments go to earworm (e.g. `tools/run.sh query hum.wav`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup_system.sh
exec cargo run --release -- "$@"
