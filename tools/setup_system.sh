#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Earworm needs to build, run and test. Idempotent: only
# missing packages are installed (through sudo when not root). Usage:
#   tools/setup_system.sh          # build + run the app
#   tools/setup_system.sh --test   # also what the test suite needs
set -euo pipefail

# Build: certificates (crates.io), a C toolchain and pkg-config for the -sys crates, ALSA
# headers (cpal, the microphone), cmake (libopus is built from source and linked in).
pkgs=(ca-certificates build-essential pkg-config cmake libasound2-dev)
# Run: the libraries the window opens at run time (X11/Wayland, OpenGL through Mesa).
pkgs+=(libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 libwayland-client0 libgl1 libegl1)
if [ "${1:-}" = "--test" ]; then
  # Tests: a second General MIDI SoundFont (generalisation set), and ffmpeg to encode the
  # Opus/WebM/M4A songs the format tests index (the product itself never runs ffmpeg).
  # procps: `kill`, which the interrupted-indexing test sends.
  pkgs+=(timgm6mb-soundfont ffmpeg procps)
fi

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "setup_system: not a Debian/Ubuntu system; install the equivalents of: ${pkgs[*]}" >&2
  exit 0
fi
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup_system: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup_system: installing ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
