#!/usr/bin/env python3
"""Where the same tune is there twice: the folk collections hold some tunes under two ids (an
Essen tune in two books, an O'Neill's reel that is also in Ryan's Mammoth), so a set drawn by
melody id can hold one tune twice, and a dev melody can have a near copy among the training
melodies.

  --corpus        dev melodies with a near copy (half or more of their 10-interval runs shared)
                  among the training melodies, and among the other dev melodies; with --manifest
                  and --report, queries found first with and without such a copy
  SET_DIR         song pairs of a set made by `earworm synth devset` that share half or more of
                  their 8-interval runs
  --report R.json with SET_DIR and --manifest M: the queries whose hummed notes (10 or more
                  intervals) occur, 80% or more of them in one contiguous run, in another song of
                  the set, and how many of them the report found first or lost to that song
  --misses        with --report: only each report's misses, per texture: how many the top song
                  answers with the hummed notes (fast on large sets; no song pairs listed)

usage: tools/same_tunes.py [--corpus] [SET_DIR] [--manifest M --report R.json... [--misses]]
  e.g. tools/same_tunes.py --corpus data/stress --manifest data/stress/_tune.csv \\
         --report runs/stress_s16_sine.json
"""
import argparse
import collections
import csv
import gzip
import itertools
import json
import os

from ambiguous_misses import interval_text, intervals, longest_run_in


def runs(iv, n):
    return {tuple(iv[i:i + n]) for i in range(len(iv) - n + 1)}


def shared(a, b):
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def corpus_copies(path):
    melodies = [json.loads(l) for l in gzip.open(path, "rt")]
    grams = [runs(intervals([n[2] for n in m["notes"]]), 10) for m in melodies]
    holders = collections.defaultdict(set)
    for i, g in enumerate(grams):
        for r in g:
            holders[r].add(i)
    found = collections.Counter()
    copied = set()
    dev = [i for i, m in enumerate(melodies) if m["split"] == "dev"]
    for i in dev:
        hits = collections.Counter(j for r in grams[i] for j in holders[r] if j != i)
        splits = {melodies[j]["split"] for j, n in hits.items()
                  if n / min(len(grams[i]), len(grams[j])) >= 0.5}
        for s in splits:
            found[s] += 1
        if "train" in splits:
            copied.add(melodies[i]["id"])
    print(f"dev melodies: {len(dev)}; with a near copy among the training melodies: "
          f"{found['train']}, among the other dev melodies: {found['dev']}")
    return copied


def found_by_copy(manifest, reports, copied):
    """Queries found first, those whose melody has a training copy and the others."""
    rows = list(csv.DictReader(open(manifest)))
    for path in reports:
        outcomes = json.load(open(path))["outcomes"]
        n, hit = collections.Counter(), collections.Counter()
        for r, o in zip(rows, outcomes):
            k = r.get("melody_id") in copied
            n[k] += 1
            hit[k] += o.get("rank") == 1
        print(f"  {path}: found first, melody with a training copy {hit[True]} of {n[True]}, "
              f"others {hit[False]} of {n[False]}")


def hummed_intervals(notes, row):
    start, end = float(row["start_s"]), float(row["end_s"])
    return intervals([n[2] for n in notes[row["target_file"]] if start - 0.05 <= n[0] < end])


def misses_to_same_notes(set_dir, notes, manifest, reports):
    """Per texture: queries, found first, misses, and misses whose top song holds the hummed
    notes (10 or more intervals, 80% or more in one run): a right tune in another song."""
    rows = list(csv.DictReader(open(manifest)))
    root = os.path.abspath(set_dir)
    for path in reports:
        total, found, same = collections.Counter(), collections.Counter(), collections.Counter()
        for r, o in zip(rows, json.load(open(path))["outcomes"]):
            texture = r.get("texture") or "-"
            total[texture] += 1
            if o.get("rank") == 1:
                found[texture] += 1
                continue
            top = o.get("top_song") and os.path.relpath(o["top_song"], root)
            hummed = hummed_intervals(notes, r)
            if top in notes and len(hummed) >= 10 and \
                    longest_run_in(hummed, interval_text([n[2] for n in notes[top]])) >= 0.8:
                same[texture] += 1
        print(path)
        for t in sorted(total):
            print(f"  {t}: found {found[t]} / {total[t]}, misses {total[t] - found[t]}, of them lost "
                  f"to a song with the hummed notes {same[t]}; counting those found "
                  f"{(found[t] + same[t]) / total[t]:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("set", nargs="?")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--melodies", default="assets/melodies/melodies.jsonl.gz")
    ap.add_argument("--manifest")
    ap.add_argument("--report", nargs="*", default=[])
    ap.add_argument("--misses", action="store_true")
    a = ap.parse_args()
    if a.corpus:
        copied = corpus_copies(a.melodies)
        if a.manifest and a.report:
            found_by_copy(a.manifest, a.report, copied)
    if not a.set:
        return
    info = {r["file"]: r for r in csv.DictReader(open(os.path.join(a.set, "songs.csv")))}
    notes = {}
    for line in open(os.path.join(a.set, "melody_notes.jsonl")):
        j = json.loads(line)
        notes[j["file"]] = j["notes"]
    if a.misses:
        misses_to_same_notes(a.set, notes, a.manifest, a.report)
        return
    pitches = {f: [n[2] for n in ns] for f, ns in notes.items()}
    grams = {f: runs(intervals(p), 8) for f, p in pitches.items()}
    print(f"{a.set}: songs sharing half or more of their 8-interval runs")
    for x, y in itertools.combinations(sorted(grams), 2):
        s = shared(grams[x], grams[y])
        if s >= 0.5:
            print(f"  {s:.2f} {x} ({info[x]['melody_id']}) = {y} ({info[y]['melody_id']})")
    if not (a.manifest and a.report):
        return
    text = {f: interval_text(p) for f, p in pitches.items()}
    rows = list(csv.DictReader(open(a.manifest)))
    same = []
    for r in rows:
        hummed = hummed_intervals(notes, r)
        same.append({f for f in text if f != r["target_file"] and len(hummed) >= 10
                     and longest_run_in(hummed, text[f]) >= 0.8})
    root = os.path.abspath(a.set)
    print(f"{a.manifest}: {sum(map(bool, same))} of {len(rows)} queries whose notes another song holds")
    for path in a.report:
        outcomes = json.load(open(path))["outcomes"]
        found = lost = 0
        for s, o in zip(same, outcomes):
            if not s:
                continue
            top = o.get("top_song") and os.path.relpath(o["top_song"], root)
            found += o.get("rank") == 1
            lost += top in s
        print(f"  {path}: of those, {found} found first, {lost} lost to the song with their notes")


if __name__ == "__main__":
    main()
