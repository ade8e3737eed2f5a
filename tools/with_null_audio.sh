#!/usr/bin/env bash
# Runs a command with a private PulseAudio daemon whose default output is a null sink: the
# app's player then has a real audio device on a machine without sound hardware (the tour's
# screenshots of playback, playback checks). Needs pulseaudio and pulseaudio-utils.
#
#   tools/with_null_audio.sh xvfb-run -a -s "-screen 0 1280x860x24" target/release/earworm app --tour /tmp/tour
set -euo pipefail
work=$(mktemp -d)
export PULSE_RUNTIME_PATH="$work/pulse" PULSE_SERVER="unix:$work/pulse/native"
trap 'pulseaudio --kill 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/pulse"
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit -n \
  --load="module-native-protocol-unix socket=$work/pulse/native auth-anonymous=1" \
  --load="module-null-sink sink_name=speakers" --load="module-always-sink" 2>/dev/null
for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl set-default-sink speakers
"$@"
