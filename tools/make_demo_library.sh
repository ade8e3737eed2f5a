#!/usr/bin/env bash
# Builds the bundled demo library in assets/demo from demo-split melodies (never trained on):
# 20 songs rendered with FluidR3 GM and a few example hums, compressed (mp3 and ogg, mono) and
# tagged with the tune's title. Needs: a release build, ffmpeg, fluid-soundfont-gm.
#
#   tools/make_demo_library.sh            # writes assets/demo/{songs,hums}, assets/demo/manifest.csv
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/earworm
[ -x "$bin" ] || cargo build --release
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
"$bin" synth devset --split demo --songs 20 --queries-per-song 1 --seed 11 --rate 22050 --out "$raw"

out=assets/demo
rm -rf "$out"
mkdir -p "$out/songs" "$out/hums"
# songs.csv: file,melody_id,collection,title,lead,soundfont,bpm,transpose,passes,duration_s
i=0
declare -A renamed
while IFS=, read -r file melody collection title lead _rest; do
  [ "$file" = "file" ] && continue
  i=$((i + 1))
  clean_title=$(echo "$title" | sed 's/[^A-Za-z0-9 ()-]//g; s/  */ /g; s/^ //; s/ $//')
  [ -n "$clean_title" ] || clean_title="Tune $i"
  slug=$(printf '%02d %s' "$i" "$clean_title" | tr ' ' '_' | tr -cd 'A-Za-z0-9_()-' | cut -c1-48)
  # Alternate containers so the demo exercises more than one decoder.
  if [ $((i % 3)) -eq 0 ]; then ext=ogg; codec=(-c:a libvorbis -q:a 0); else ext=mp3; codec=(-c:a libmp3lame -b:a 40k); fi
  ffmpeg -nostdin -loglevel error -y -i "$raw/$file" -ac 1 -ar 22050 "${codec[@]}" \
    -metadata title="$clean_title" -metadata artist="Earworm Demo Band ($lead)" \
    -metadata album="Earworm demo library" "$out/songs/$slug.$ext"
  renamed["$file"]="songs/$slug.$ext"
done < "$raw/songs.csv"

# A few example hums (one per difficulty and style where possible), as ogg.
echo "query_file,target_file,difficulty,style" > "$out/manifest.csv"
n=0
while IFS=, read -r q target difficulty style _rest; do
  [ "$q" = "query_file" ] && continue
  n=$((n + 1))
  name="hum_$(printf '%02d' "$n")_${difficulty}_${style,,}.ogg"
  ffmpeg -nostdin -loglevel error -y -i "$raw/$q" -ac 1 -ar 16000 -c:a libvorbis -q:a 2 "$out/hums/$name"
  echo "hums/$name,${renamed[$target]},$difficulty,$style" >> "$out/manifest.csv"
done < "$raw/manifest.csv"
du -sh "$out"
