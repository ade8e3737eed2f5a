#!/usr/bin/env python3
"""Writes a set's manifest without the queries of songs whose lead names any of the given
instruments (songs.csv's `lead` column, e.g. "piano" also drops "square lead / piano").

Used for the MuseScore generalisation set: Earworm's renderer (rustysynth) plays MuseScore
General's grand piano 20-45 dB too quietly above E5 (fluidsynth renders the same file's notes
at full level; docs/MEASURED.md), so the tune of a piano song there is mostly not in the audio.

usage: tools/filter_manifest.py SET_DIR OUT.csv --exclude-lead piano [--exclude-lead ...]
"""
import argparse
import csv
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("out")
    ap.add_argument("--exclude-lead", action="append", default=[])
    a = ap.parse_args()
    songs = {r["file"]: r for r in csv.DictReader(open(os.path.join(a.set, "songs.csv")))}
    rows = list(csv.DictReader(open(os.path.join(a.set, "manifest.csv"))))
    kept = [r for r in rows if not any(x in songs[r["target_file"]]["lead"] for x in a.exclude_lead)]
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rows[0].keys())
        w.writeheader()
        w.writerows(kept)
    print(f"{len(kept)} of {len(rows)} queries kept in {a.out}")


if __name__ == "__main__":
    main()
