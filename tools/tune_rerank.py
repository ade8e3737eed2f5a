#!/usr/bin/env python3
"""Tunes the learned search's re-ranking offline: shortlist length and the weights of the
embedding evidence (vote, dense, diagonal) against the contour alignment.

Input: the candidates the search dumped during an eval run with a long shortlist
(EARWORM_SHORTLIST=100 EARWORM_DUMP_CANDIDATES=FILE earworm eval ...; one JSON line per query
in manifest order, each candidate [song id, vote, alignment score or null, dense, diagonal]),
the eval's manifest, and the library catalog (for song paths).

Tunes on the first --tune queries of the manifest and reports the chosen setting on the rest,
so the figure reported is not measured on the queries it was tuned on. The score is the one
src/search/learned.rs computes: alignment + w_vote·vote + w_dense·dense + w_diag·diagonal
(divided by the weights' sum, which does not change the order).

  python3 tools/tune_rerank.py --dump FILE --manifest CSV --db DIR [--tune 600]
"""
import argparse
import csv
import itertools
import json
import os
import sqlite3

SHORTLISTS = (20, 30, 50, 100)
VOTE = (0.0, 0.05, 0.1, 0.2)
EMBED = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)


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
        # [song, vote, alignment, dense, diagonal]; older dumps lack the last two.
        cands = [(c[0], c[1], c[2] or 0.0, *(c[3:5] if len(c) >= 5 else (0.0, 0.0))) for c in cands]
        queries.append((truth, row.get("difficulty", ""), cands))

    def rank_of(truth, cands, setting):
        k, wv, wd, wg = setting
        scored = sorted(cands[:k], key=lambda c: -(c[2] + wv * c[1] + wd * c[3] + wg * c[4]))
        return next((r + 1 for r, c in enumerate(scored) if c[0] == truth), None)

    def metrics(qs, setting):
        ranks = [rank_of(t, c, setting) for t, _, c in qs]
        n = max(len(ranks), 1)
        hit = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n
        return hit(1), hit(5), hit(10), sum(1 / r for r in ranks if r is not None) / n

    tune, held = queries[: args.tune], queries[args.tune :]
    grid = list(itertools.product(SHORTLISTS, VOTE, EMBED, EMBED))
    results = {g: metrics(tune, g) for g in grid}
    best = max(grid, key=lambda g: (results[g][0] + results[g][3], -g[0]))
    print("tuning queries:", len(tune), "held-out queries:", len(held))
    print("shortlist  best weights (vote, dense, diagonal)  top1  top10  mrr  (tuning queries)")
    for k in SHORTLISTS:
        g = max((g for g in grid if g[0] == k), key=lambda g: results[g][0] + results[g][3])
        t1, _, t10, mrr = results[g]
        print(f"{k:<10} {g[1:]!s:<36} {t1:.3f} {t10:.3f}  {mrr:.3f}")
    print("alignment only (shortlist %d): %s" % (best[0], fmt(metrics(tune, (best[0], 0, 0, 0)))))
    print("chosen:", dict(zip(("shortlist", "vote", "dense", "diagonal"), best)))
    for name, qs in (("held-out", held), ("all", queries)):
        print(f"{name}: {fmt(metrics(qs, best))}")
        for d in sorted({q[1] for q in qs}):
            sub = [q for q in qs if q[1] == d]
            print(f"  {d:<7} {len(sub):>4}: {fmt(metrics(sub, best))}")
    # Recall of the vote alone: how often the song is in the shortlist at all.
    for k in (10, 20, 50, 100):
        inside = sum(1 for t, _, c in queries if any(x[0] == t for x in c[:k])) / len(queries)
        print(f"vote recall@{k}: {inside:.3f}")


def fmt(m):
    return "top1 %.3f top5 %.3f top10 %.3f mrr %.3f" % m


if __name__ == "__main__":
    main()
