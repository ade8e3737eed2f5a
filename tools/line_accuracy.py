#!/usr/bin/env python3
"""How well an indexed library's stored lines follow the true tune, per texture: the share of
the tune's frames where the stored melody (and, where a song keeps one, its second voice) is on
the tune's pitch class. With an eval report, also the melody's accuracy over each hum's own
segment, for the hums found first and the others: whether misses come from the song side.

Inner-voice songs are split into "descant" (the tune under a descant in an ensemble timbre, so
the tune is the second voice) and "doubling" (a lead doubled an octave away).

usage: tools/line_accuracy.py DB_DIR SET_DIR [--report R.json] [--from N] [--to M] [--lead NAME] [--offsets]
  --lead keeps only the songs whose lead is NAME (e.g. "church organ").
  --offsets also prints, per texture, where the stored melody is against the tune: the share of
  the tune's frames at each offset (line minus tune, semitones), and unvoiced.
  e.g. tools/line_accuracy.py runs/db_stress_shipped data/stress --report runs/stress_shipped_hums.json --to 392
"""
import argparse
import collections
import csv
import json
import math
import os
import sqlite3
import struct

ENSEMBLES = {"choir aahs", "church organ", "strings", "brass section", "piano"}


def floats(blob):
    return None if blob is None else struct.unpack(f"<{len(blob) // 4}f", blob)


def tune_frames(line, fps, notes, span=None):
    """(the line's pitch, the tune's MIDI note) at each frame of the notes (within span, seconds)."""
    for start, end, midi in notes:
        if span:
            start, end = max(start, span[0]), min(end, span[1])
        for f in range(int(start * fps + 0.5), min(len(line), int(end * fps))):
            yield line[f], midi


def accuracy(line, fps, notes, span=None):
    """Share of the notes' frames (within span, seconds) where line is on their pitch class."""
    if line is None:
        return None
    total = hits = 0
    for x, midi in tune_frames(line, fps, notes, span):
        total += 1
        hits += not math.isnan(x) and abs((x - midi + 6) % 12 - 6) < 0.5
    return hits / total if total else None


def either_accuracy(melody, second, fps, notes):
    """Share of the notes' frames where the melody or the second line is on their pitch class."""
    if melody is None:
        return None
    total = hits = 0
    for f, (x, midi) in enumerate_tune_frames(melody, fps, notes):
        y = second[f] if second is not None and f < len(second) else math.nan
        total += 1
        hits += any(not math.isnan(v) and abs((v - midi + 6) % 12 - 6) < 0.5 for v in (x, y))
    return hits / total if total else None


def enumerate_tune_frames(line, fps, notes):
    """(frame, (the line's pitch, the tune's MIDI note)) at each frame of the notes."""
    for start, end, midi in notes:
        for f in range(int(start * fps + 0.5), min(len(line), int(end * fps))):
            yield f, (line[f], midi)


def offsets(line, fps, notes):
    """Counts of the line's offset from the tune (semitones, rounded; "none" where unvoiced)."""
    return collections.Counter("none" if math.isnan(x) else f"{round(x - midi):+}"
                               for x, midi in tune_frames(line, fps, notes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("set")
    ap.add_argument("--report")
    ap.add_argument("--from", dest="lo", type=int, default=0)
    ap.add_argument("--to", dest="hi", type=int, default=None)
    ap.add_argument("--lead", help="only songs whose lead is this (songs.csv's lead column)")
    ap.add_argument("--offsets", action="store_true",
                    help="per texture, the share of the tune's frames at each offset of the line")
    a = ap.parse_args()
    root = os.path.abspath(a.set)
    songs = {
        r["file"]: r
        for r in csv.DictReader(open(os.path.join(a.set, "songs.csv")))
        if a.lead is None or r["lead"] == a.lead
    }
    notes = {}
    for line in open(os.path.join(a.set, "melody_notes.jsonl")):
        j = json.loads(line)
        notes[j["file"]] = j["notes"]
    db = sqlite3.connect(f"file:{os.path.join(a.db, 'catalog.sqlite')}?mode=ro", uri=True)
    lines = {}
    second_lines = {}
    for path, fps, melody, second, voice in db.execute(
        "select s.path, m.fps, m.contour, m.second_line, m.second_voice"
        " from songs s join melodies m on m.song_id = s.id"
    ):
        lines[os.path.relpath(path, root)] = (fps, floats(melody), floats(voice))
        second_lines[os.path.relpath(path, root)] = floats(second)

    def texture(rel):
        s = songs[rel]
        if s["texture"] == "inner_voice":
            return "descant" if s["lead"] in ENSEMBLES else "doubling"
        return s["texture"]

    by_texture = collections.defaultdict(list)
    for rel, (fps, melody, voice) in lines.items():
        if rel in songs and rel in notes:
            by_texture[texture(rel)].append((
                accuracy(melody, fps, notes[rel]),
                accuracy(voice, fps, notes[rel]),
                either_accuracy(melody, second_lines[rel], fps, notes[rel]),
            ))
    print("| texture | songs | melody on the tune | songs with a second voice | second voice on the tune"
          " | better of the two | melody or second line on the tune |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, rows in sorted(by_texture.items()):
        mel = [m for m, _, _ in rows if m is not None]
        voiced = [v for _, v, _ in rows if v is not None]
        best = [max(m or 0, v or 0) for m, v, _ in rows]
        either = [e for _, _, e in rows if e is not None]
        mean = lambda xs: f"{sum(xs) / len(xs):.3f}" if xs else "—"
        print(f"| {name} | {len(rows)} | {mean(mel)} | {len(voiced)} | {mean(voiced)} | {mean(best)}"
              f" | {mean(either)} |")

    if a.offsets:
        print()
        print("| texture | the line's offsets from the tune (semitones): share of the tune's frames, largest first |")
        print("|---|---|")
        by_offset = collections.defaultdict(collections.Counter)
        for rel, (fps, melody, _) in lines.items():
            if rel in songs and rel in notes and melody is not None:
                by_offset[texture(rel)].update(offsets(melody, fps, notes[rel]))
        for name, counts in sorted(by_offset.items()):
            total = sum(counts.values())
            shares = ", ".join(f"{k}: {v / total:.3f}" for k, v in counts.most_common(8))
            print(f"| {name} | {shares} |")

    if a.report:
        manifest = list(csv.DictReader(open(os.path.join(a.set, "manifest.csv"))))
        outcomes = json.load(open(a.report))["outcomes"]
        groups = collections.defaultdict(list)
        for i in range(a.lo, a.hi if a.hi is not None else len(outcomes)):
            row, o = manifest[i], outcomes[i]
            rel = row["target_file"]
            if rel not in lines or rel not in songs:
                continue
            fps, melody, _ = lines[rel]
            acc = accuracy(melody, fps, notes[rel], (float(row["start_s"]), float(row["end_s"])))
            if acc is not None:
                groups[(texture(rel), o.get("rank") == 1)].append(acc)
        print()
        print("| texture | hums found first | their segments' melody accuracy | other hums | their segments' melody accuracy |")
        print("|---|--:|--:|--:|--:|")
        for name in sorted({t for t, _ in groups}):
            hit, miss = groups.get((name, True), []), groups.get((name, False), [])
            mean = lambda xs: f"{sum(xs) / len(xs):.2f}" if xs else "—"
            print(f"| {name} | {len(hit)} | {mean(hit)} | {len(miss)} | {mean(miss)} |")


if __name__ == "__main__":
    main()
