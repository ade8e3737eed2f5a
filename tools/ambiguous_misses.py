#!/usr/bin/env python3
"""Counts the learned search's rank-1 misses whose hummed notes also occur in the song that won:
at least 80% of the hum's note intervals (in semitones), contiguous and in order, found in the
winning song's melody. Such hums are ambiguous, not just missed.

Input: a candidate dump of an eval run with the engine's defaults (EARWORM_DUMP_CANDIDATES),
the dev set's manifest and melody_notes.jsonl (ground truth written by `earworm synth devset`),
and the library catalog.

  python3 tools/ambiguous_misses.py --dump runs/cands_dev_final.jsonl \\
      --manifest data/dev/manifest.csv --db runs/db_dev2k [--dense 0.2 --diagonal 0.2]
"""
import argparse
import collections
import csv
import json
import os
import sqlite3


def intervals(notes):
    return [round(b - a) for a, b in zip(notes, notes[1:])]


def interval_text(notes):
    """A melody's intervals as ",a,b,c," for finding runs of them with `in`."""
    return "," + ",".join(map(str, intervals(notes))) + ","


def longest_run_in(h, text):
    """Longest contiguous run of the intervals `h` found in `text` (interval_text), as a fraction."""
    best = 0
    for i in range(len(h)):
        for j in range(len(h), i + best, -1):
            if "," + ",".join(map(str, h[i:j])) + "," in text:
                best = j - i
                break
    return best / max(len(h), 1)


def longest_run_found(hummed, other):
    """Longest contiguous run of `hummed`'s intervals found in `other`'s, as a fraction."""
    return longest_run_in(intervals(hummed), interval_text(other))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--dense", type=float, default=0.2)
    ap.add_argument("--diagonal", type=float, default=0.2)
    a = ap.parse_args()
    con = sqlite3.connect(os.path.join(a.db, "catalog.sqlite"))
    id_of = {os.path.basename(p): i for i, p in con.execute("SELECT id, path FROM songs")}
    name_of = {v: k for k, v in id_of.items()}
    notes_path = os.path.join(os.path.dirname(a.manifest), "melody_notes.jsonl")
    notes = {os.path.basename(j["file"]): j["notes"] for j in map(json.loads, open(notes_path))}
    rows = list(csv.DictReader(open(a.manifest)))
    dumps = [json.loads(line) for line in open(a.dump)]
    score = lambda c: (c[2] or 0.0) + a.dense * c[3] + a.diagonal * c[4]
    misses, ambiguous = collections.Counter(), collections.Counter()
    for row, cands in zip(rows, dumps):
        target = os.path.basename(row["target_file"])
        winner = max(cands, key=score)[0] if cands else None
        if winner is None or winner == id_of.get(target):
            continue
        start, end = float(row["start_s"]) - 0.05, float(row["end_s"]) + 0.05
        hummed = [n[2] for n in notes[target] if n[0] >= start and n[1] <= end]
        won = [n[2] for n in notes.get(name_of[winner], [])]
        misses[row["difficulty"]] += 1
        if longest_run_found(hummed, won) >= 0.8:
            ambiguous[row["difficulty"]] += 1
    print(f"rank-1 misses: {sum(misses.values())} {dict(misses)}")
    print(f"of which the winner holds >= 80% of the hummed intervals: {sum(ambiguous.values())} {dict(ambiguous)}")


if __name__ == "__main__":
    main()
