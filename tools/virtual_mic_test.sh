#!/usr/bin/env bash
# Real-audio-path check of the app's recorder: a PulseAudio virtual microphone (a null sink
# whose monitor is the default source; ALSA's default device routed to PulseAudio) is fed a
# demo hum with paplay while examples/mic_query records through cpal into the app's capture
# code, then searches the demo library. Then examples/play_check plays the matched song through
# the app's player into another null sink, whose output is recorded and checked for sound. Needs: pulseaudio pulseaudio-utils libasound2-plugins
# (installed here if missing). Not part of `cargo test`: CI machines have no audio daemon.
#
#   tools/virtual_mic_test.sh [HUM_INDEX]   (1-20, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
if ! command -v pulseaudio >/dev/null || ! command -v paplay >/dev/null || [ ! -e /etc/alsa/conf.d/99-pulse.conf ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    pulseaudio pulseaudio-utils libasound2-plugins >/dev/null
fi
cargo build --release --example mic_query --example play_check --bin earworm
work=$(mktemp -d)
trap 'pulseaudio --kill 2>/dev/null || true; rm -rf "$work"' EXIT

line=$(sed -n "$((n + 1))p" assets/demo/manifest.csv)
hum="assets/demo/${line%%,*}"
song=$(basename "$(echo "$line" | cut -d, -f2)")
song=${song%.*}
echo "hum: $hum  expected song: $song"

target/release/earworm index --db "$work/db" assets/demo/songs >/dev/null
ffmpeg -loglevel error -i "$hum" -ar 44100 -ac 1 "$work/hum.wav"
# Half a second of silence before the hum, as when someone presses Record and starts humming.
ffmpeg -loglevel error -f lavfi -i anullsrc=r=44100:cl=mono -t 0.5 "$work/pre.wav"

export PULSE_RUNTIME_PATH="$work/pulse" PULSE_SERVER="unix:$work/pulse/native"
mkdir -p "$work/pulse"
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit -n \
  --load="module-native-protocol-unix socket=$work/pulse/native auth-anonymous=1" \
  --load="module-null-sink sink_name=mic_feed" \
  --load="module-null-sink sink_name=speakers" \
  --load="module-always-sink"
for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl set-default-source mic_feed.monitor
pactl set-default-sink speakers

target/release/examples/mic_query --db "$work/db" --expect "$song" --max-seconds 40 &
rec=$!
sleep 1.5
(paplay --latency-msec=20 --device=mic_feed "$work/pre.wav" && \
 paplay --latency-msec=20 --device=mic_feed "$work/hum.wav") &
wait $rec

# Playback: the app's player (rodio) into the "speakers" sink, recorded from its monitor.
parec --device=speakers.monitor --file-format=wav "$work/played.wav" &
capture=$!
sleep 0.5
target/release/examples/play_check "assets/demo/$(echo "$line" | cut -d, -f2)" 10
sleep 0.5
kill $capture; wait $capture 2>/dev/null || true
python3 - "$work/played.wav" <<'PY'
import sys, wave, array, math
w = wave.open(sys.argv[1])
a = array.array("h", w.readframes(w.getnframes()))
rms = math.sqrt(sum(x * x for x in a) / max(1, len(a))) / 32768
print(f"recorded {w.getnframes() / w.getframerate():.1f} s from the speakers sink, RMS {rms:.4f}")
sys.exit(0 if rms > 0.005 else "no sound came out of the player")
PY
