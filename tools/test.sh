#!/usr/bin/env bash
# The README's test command (and CI's, via .ci/run): installs the system packages the build
# and tests need (once), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup_system.sh --test
exec cargo test "$@"
