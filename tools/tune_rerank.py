#!/usr/bin/env python3
"""Tunes the learned search's shortlist length and vote weight offline.

Input: the candidates the search dumped during an eval run with a long shortlist
(EARWORM_SHORTLIST=100 EARWORM_DUMP_CANDIDATES=FILE earworm eval ...; one JSON line per query
in manifest order), the eval's manifest, and the library catalog (for song paths).

Tunes on the first --tune queries of the manifest and reports the chosen setting on the rest,
so the figure reported is not measured on the queries it was tuned on.

  python3 tools/tune_rerank.py --dump FILE --manifest CSV --db DIR [--tune 600]
"""
import argparse
import csv
import json
import os
import sqlite3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--tune", type=int, default=600)
    args = ap.parse_args()

    con = sqlite3.connect(os.path.join(args.db, "catalog.sqlite"))
    id_of = {os.path.basename(p): i for i, p in con.execute("SELECT id, path FROM songs")}
    with open(args.manifest) as f:
        rows = list(csv.DictReader(f))
    with open(args.dump) as f:
        dumps = [json.loads(line) for line in f]
    assert len(dumps) == len(rows), f"{len(dumps)} dumped queries for {len(rows)} manifest rows"
    queries = []
    for row, cands in zip(rows, dumps):
        truth = id_of.get(os.path.basename(row["target_file"]))
        queries.append((truth, row.get("difficulty", ""), cands))

    def rank_of(truth, cands, k, w):
        short = cands[:k]
        scored = sorted(
            short, key=lambda c: -(w * c[1] + (1 - w) * (c[2] if c[2] is not None else 0.0))
        )
        for r, c in enumerate(scored):
            if c[0] == truth:
                return r + 1
        return None

    def metrics(qs, k, w):
        ranks = [rank_of(t, c, k, w) for t, _, c in qs]
        n = len(ranks)
        top1 = sum(1 for r in ranks if r == 1) / n
        top10 = sum(1 for r in ranks if r is not None and r <= 10) / n
        mrr = sum(1 / r for r in ranks if r is not None) / n
        return top1, top10, mrr

    tune, held = queries[: args.tune], queries[args.tune :]
    grid = [(k, w / 10) for k in (10, 20, 30, 50, 75, 100) for w in range(0, 11)]
    results = {(k, w): metrics(tune, k, w) for k, w in grid}
    best = max(grid, key=lambda g: (results[g][0], results[g][2]))
    print("tuning queries:", len(tune), "held-out queries:", len(held))
    print("k   w    top1  top10  mrr   (tuning queries)")
    for k in (10, 20, 30, 50, 75, 100):
        w_best = max((w / 10 for w in range(11)), key=lambda w: results[(k, w)][0])
        t1, t10, mrr = results[(k, w_best)]
        print(f"{k:<3} {w_best:.1f}  {t1:.3f} {t10:.3f}  {mrr:.3f}")
    print("chosen:", {"shortlist": best[0], "vote_weight": best[1]})
    for name, qs in (("held-out", held), ("all", queries)):
        t1, t10, mrr = metrics(qs, *best)
        print(f"{name}: top1 {t1:.3f} top10 {t10:.3f} mrr {mrr:.3f}")
        for d in sorted({q[1] for q in qs}):
            sub = [q for q in qs if q[1] == d]
            t1, t10, mrr = metrics(sub, *best)
            print(f"  {d:<7} {len(sub):>4}: top1 {t1:.3f} top10 {t10:.3f} mrr {mrr:.3f}")
    # Recall of the vote alone: how often the song is in the shortlist at all.
    for k in (10, 20, 50, 100):
        inside = sum(1 for t, _, c in queries if any(x[0] == t for x in c[:k])) / len(queries)
        print(f"vote recall@{k}: {inside:.3f}")


if __name__ == "__main__":
    main()
