#!/usr/bin/env python3
"""The hub correction, measured offline on dumped candidates (docs/MEASURED.md, "Tried in the
twelfth session").

Some songs fit many hums nearly as well as the hums' own songs ("hubs"). The correction takes
`--weight` times a song's lead over the library's typical song off its fused score, where a
song's statistic is the mean of its `--best` highest fused scores as a *wrong* candidate of the
probe queries: the library's own oracle queries (`--probes`, each probe's own song left out).

Input: two candidate dumps of the same library and manifest, one with `--oracle sine` (the
probes) and one with the hums, each made with

  EARWORM_DUMP_CANDIDATES=FILE earworm eval --db DB --manifest CSV [--oracle sine] --report R

(one JSON line per query, read with tools/tune_rerank.py's reader). The fused score is the one
src/search/learned.rs ranks by with the shipped weights (alignment + 0.05·dense +
0.1·diagonal, over 1.15).

  tools/.venv/bin/python tools/hub_offline.py --db runs/db_dev200_s9v \\
      --manifest data/dev200/manifest_tune.csv --probes dump_sine.jsonl --hums dump_hums.jsonl \\
      [--weight 0.25] [--best 10]

Prints the queries found first per texture without and with the correction, for the hums and
for the probes themselves (in-sample: each probe's own song is left out of the statistics, but
the other songs' statistics include the probe).
"""
import argparse
from collections import Counter, defaultdict

from tune_rerank import read_dump

DENSE_WEIGHT, DIAGONAL_WEIGHT = 0.05, 0.1


def fused(c):
    alignment = c[2] or 0.0
    dense = c[3] if len(c) > 3 else 0.0
    diagonal = c[4] if len(c) > 4 else 0.0
    return (alignment + DENSE_WEIGHT * dense + DIAGONAL_WEIGHT * diagonal) / (
        1.0 + DENSE_WEIGHT + DIAGONAL_WEIGHT)


def load(dump, manifest, db):
    """(true song id or None, texture, [(song id, fused score, alignment)]) per query."""
    return [
        (truth, row.get("texture") or "all", [(c[0], fused(c), c[2]) for c in cands])
        for row, truth, cands in read_dump(dump, manifest, db)
    ]


def hub_statistics(probes, best):
    """Each song's mean of its `best` highest fused scores as a wrong, aligned candidate."""
    scores = defaultdict(list)
    for truth, _, cands in probes:
        for song, score, alignment in cands:
            if song != truth and alignment:
                scores[song].append(score)
    stats = {}
    for song, v in scores.items():
        if len(v) >= 3:
            top = sorted(v)[-best:]
            stats[song] = sum(top) / len(top)
    return stats


def found_first(queries, hub, weight):
    mean = sum(hub.values()) / max(1, len(hub))
    hits, counts = Counter(), Counter()
    for truth, texture, cands in queries:
        counts["all"] += 1
        counts[texture] += 1
        if not cands:
            continue
        top = max(cands, key=lambda c: c[1] - weight * (hub.get(c[0], mean) - mean))
        if top[0] == truth:
            hits["all"] += 1
            hits[texture] += 1
    return "  ".join(f"{t} {hits[t]}/{counts[t]}" for t in sorted(counts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="library folder (catalog.sqlite inside)")
    ap.add_argument("--manifest", required=True, help="the eval's manifest")
    ap.add_argument("--probes", required=True, help="candidate dump of the --oracle sine eval")
    ap.add_argument("--hums", required=True, help="candidate dump of the hums' eval")
    ap.add_argument("--weight", type=float, nargs="+", default=[0.25, 0.5])
    ap.add_argument("--best", type=int, default=10)
    args = ap.parse_args()
    probes = load(args.probes, args.manifest, args.db)
    hums = load(args.hums, args.manifest, args.db)
    hub = hub_statistics(probes, args.best)
    print(f"{len(hub)} songs with a statistic; found first:")
    for weight in [0.0] + args.weight:
        print(f"weight {weight}: hums  {found_first(hums, hub, weight)}")
        print(f"weight {weight}: probes  {found_first(probes, hub, weight)}")


if __name__ == "__main__":
    main()
