#!/usr/bin/env python3
"""Export melodies from the music21 corpus collections Earworm may train on.

Only essenFolksong, nottingham-dataset, ryansMammoth and oneills1850 are read (all ABC).
Each tune becomes one JSON line: notes (onset and duration in quarter notes, MIDI pitch),
meter, key, tempo hint and chord symbols where the source has them. Identical tunes (same
intervals and rhythm, any key) are kept once. Tunes are split by melody into train / dev /
demo with a fixed seed; tunes that open with the same 12 intervals (variants of one tune,
often in two collections) always land in the same split, so nothing leaks.

Usage: tools/setup_python.sh && tools/.venv/bin/python tools/export_melodies.py OUT.jsonl.gz
"""

import gzip
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import warnings

COLLECTIONS = ["essenFolksong", "nottingham-dataset", "ryansMammoth", "oneills1850"]
SPLIT_SEED = "earworm-split-v1"
# Fractions of melody groups per split (the rest is train).
DEV_FRACTION = 0.09
DEMO_FRACTION = 0.01
MIN_NOTES = 12


def corpus_files():
    import music21

    root = os.path.join(os.path.dirname(music21.__file__), "corpus")
    for coll in COLLECTIONS:
        for dirpath, _, files in os.walk(os.path.join(root, coll)):
            for f in sorted(files):
                if f.endswith(".abc"):
                    yield coll, os.path.join(dirpath, f)


def tune_to_record(coll, path, score, index):
    from music21 import harmony, key, meter, tempo

    try:
        expanded = score.expandRepeats()
    except Exception:
        expanded = score
    flat = expanded.flatten().stripTies()
    notes = []
    for n in flat.notes:
        if isinstance(n, harmony.ChordSymbol):
            continue
        ql = float(n.quarterLength)
        if ql <= 0:  # grace notes
            continue
        midi = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        notes.append([round(float(n.offset), 4), round(ql, 4), int(midi)])
    if len(notes) < MIN_NOTES:
        return None
    chords = []
    for c in flat.getElementsByClass(harmony.ChordSymbol):
        try:
            root = c.root().name
            kind = c.chordKind or "major"
            chords.append([round(float(c.offset), 4), root, kind])
        except Exception:
            pass
    ts = flat.getElementsByClass(meter.TimeSignature)
    ks = flat.getElementsByClass(key.KeySignature)
    mm = flat.getElementsByClass(tempo.MetronomeMark)
    k = ks[0] if len(ks) else None
    if isinstance(k, key.Key):
        key_desc = {"tonic": k.tonic.name, "mode": k.mode}
    elif k is not None:
        kk = k.asKey("major")
        key_desc = {"tonic": kk.tonic.name, "mode": "major"}
    else:
        key_desc = None
    title = score.metadata.title if score.metadata and score.metadata.title else ""
    bpm = None
    if len(mm) and mm[0].number:
        bpm = float(mm[0].getQuarterBPM() or mm[0].number)
    rel = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
    return {
        "id": f"{rel}#{index}",
        "collection": coll,
        "title": title,
        "meter": ts[0].ratioString if len(ts) else None,
        "key": key_desc,
        "tempo_bpm": bpm,
        "notes": notes,
        "chords": chords,
    }


def export_file(job):
    coll, path = job
    warnings.filterwarnings("ignore")
    from music21 import abcFormat, converter, stream

    out, failed = [], 0
    try:
        handler = abcFormat.ABCHandler()
        handler.process(open(path, encoding="latin-1").read())
        tunes = handler.splitByReferenceNumber()
    except Exception:
        tunes = None
    if not tunes:
        return out, 1
    for number, tune_handler in sorted(tunes.items(), key=lambda kv: kv[0] or 0):
        try:
            s = stream.Score()
            from music21.abcFormat import translate

            translate.abcToStreamScore(tune_handler, s)
            rec = tune_to_record(coll, path, s, number)
            if rec:
                out.append(rec)
        except Exception:
            failed += 1
    return out, failed


def identity(rec):
    """Transposition-invariant content key: intervals and durations."""
    notes = rec["notes"]
    iv = [b[2] - a[2] for a, b in zip(notes, notes[1:])]
    du = [n[1] for n in notes]
    return hashlib.sha1(json.dumps([iv, du]).encode()).hexdigest()


def group_key(rec):
    notes = rec["notes"]
    iv = [b[2] - a[2] for a, b in zip(notes, notes[1:])][:12]
    return hashlib.sha1(json.dumps(iv).encode()).hexdigest()


def split_of(group):
    h = int(hashlib.sha256((SPLIT_SEED + group).encode()).hexdigest()[:12], 16) / float(16**12)
    if h < DEMO_FRACTION:
        return "demo"
    if h < DEMO_FRACTION + DEV_FRACTION:
        return "dev"
    return "train"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_path = sys.argv[1]
    started = time.time()
    jobs = list(corpus_files())
    records, failed = [], 0
    with mp.Pool(max(1, os.cpu_count() or 1)) as pool:
        for recs, f in pool.imap(export_file, jobs, chunksize=4):
            records.extend(recs)
            failed += f
    seen, unique = set(), []
    for r in records:
        ident = identity(r)
        if ident in seen:
            continue
        seen.add(ident)
        r["split"] = split_of(group_key(r))
        unique.append(r)
    unique.sort(key=lambda r: r["id"])
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".partial"
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for r in unique:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    os.replace(tmp, out_path)
    counts = {}
    for r in unique:
        counts.setdefault(r["collection"], {}).setdefault(r["split"], 0)
        counts[r["collection"]][r["split"]] += 1
    summary = {
        "parsed": len(records),
        "failed_tunes": failed,
        "unique": len(unique),
        "duplicates_dropped": len(records) - len(unique),
        "by_split": {s: sum(1 for r in unique if r["split"] == s) for s in ("train", "dev", "demo")},
        "by_collection": counts,
        "with_chords": sum(1 for r in unique if r["chords"]),
        "split_seed": SPLIT_SEED,
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
