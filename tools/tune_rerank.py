#!/usr/bin/env python3
"""Tunes the learned search's re-ranking offline: how many songs each channel passes on (the
embedding vote's shortlist, the contour channel's best stage-1 songs) and the weights of the
embedding evidence (vote, dense, diagonal) against the contour alignment.

Input: the candidates the search dumped during an eval run with long lists
(EARWORM_SHORTLIST=100 EARWORM_CONTOUR_SHORTLIST=50 EARWORM_DUMP_CANDIDATES=FILE earworm eval
...; one JSON line per query in manifest order, each candidate [song id, vote, alignment score
or null, dense, diagonal, vote rank or null, contour rank or null]), the eval's manifest, and the
library catalog (for song paths).

Tunes on the first --tune queries of the manifest and reports the chosen setting on the rest,
so the figure reported is not measured on the queries it was tuned on. The score is the one
src/search/learned.rs computes: alignment + w_vote·vote + w_dense·dense + w_diag·diagonal
(divided by the weights' sum, which does not change the order).

  python3 tools/tune_rerank.py --dump FILE --manifest CSV --db DIR [--tune 600]
  python3 tools/tune_rerank.py ... --evaluate 50,20,0,0.2,0.2   # one setting, every query

--fusion instead keeps the candidate lists as the search made them and tunes the final score
as it is now computed: (alignment + dense·dense + diagonal·diagonal + melody_vote·melody vote)
/ (1 + the weights) − hub·hub lead (dumps from a build that writes the melody vote and the hub
lead, twenty-first session). With several dumps it tunes on the first --tune queries of each
(summed top-1) and prints the shipped setting's count first, as a check that the dump
reproduces the search.
  python3 tools/tune_rerank.py --fusion --dump F1 --manifest M1 --db D1 --tune 608 [--dump F2 ...]

--fusion-texture keeps the plain weights and tunes instead the weights for songs whose mix does
not carry the tune plainly, and the band of the song's mix–melody agreement (the dump's 11th
column) over which the score moves from those to the plain ones (twenty-second session).
"""
import argparse
import csv
import itertools
import json
import os
import sqlite3

import numpy as np

SHORTLISTS = (20, 50, 100)
CONTOUR = (0, 10, 20, 30, 50)
VOTE = (0.0, 0.1)
EMBED = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def read_dump(dump, manifest, db):
    """Each query's manifest row, its true song's id in the library (None if absent) and its
    dumped candidates, as written."""
    con = sqlite3.connect(f"file:{os.path.join(db, 'catalog.sqlite')}?mode=ro", uri=True)
    id_of = {os.path.basename(p): i for i, p in con.execute("SELECT id, path FROM songs")}
    with open(manifest) as f:
        rows = list(csv.DictReader(f))
    with open(dump) as f:
        dumps = [json.loads(line) for line in f]
    if len(dumps) != len(rows):
        raise SystemExit(f"{dump}: {len(dumps)} dumped queries for {len(rows)} manifest rows")
    return [(row, id_of.get(os.path.basename(row["target_file"])), cands)
            for row, cands in zip(rows, dumps)]


def load_queries(dump, manifest, db):
    """The dumped candidates of each query, with which of them is the true song."""
    queries = []
    for row, truth, cands in read_dump(dump, manifest, db):
        big = 10**9
        a = np.array(
            [
                [
                    c[1],
                    c[2] or 0.0,
                    c[3] if len(c) > 3 else 0.0,
                    c[4] if len(c) > 4 else 0.0,
                    i if len(c) <= 5 else big if c[5] is None else c[5],
                    big if len(c) <= 6 or c[6] is None else c[6],
                ]
                for i, c in enumerate(cands)
            ],
            dtype=np.float64,
        ).reshape(-1, 6)
        is_truth = np.array([c[0] == truth for c in cands], dtype=bool)
        queries.append((row.get("difficulty", ""), a, is_truth))
    return queries


def rank_of(q, setting):
    _, a, is_truth = q
    k, ck, wv, wd, wg = setting
    keep = (a[:, 4] < k) | (a[:, 5] < ck)
    if not (keep & is_truth).any():
        return None
    score = a[:, 1] + wv * a[:, 0] + wd * a[:, 2] + wg * a[:, 3]
    truth_score = score[keep & is_truth].max()
    return 1 + int(((score > truth_score) & keep & ~is_truth).sum())

def metrics(qs, setting):
    ranks = [rank_of(q, setting) for q in qs]
    n = max(len(ranks), 1)
    hit = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n
    return hit(1), hit(5), hit(10), sum(1 / r for r in ranks if r is not None) / n


def tune_jointly(sets, evaluate):
    """Tunes on the first queries of every set at once (mean of their top-1 + MRR) and reports
    each set's held-out queries."""
    if evaluate:
        grid = [tuple(float(x) for x in evaluate.split(","))]
    else:
        grid = list(itertools.product(SHORTLISTS, CONTOUR, VOTE, EMBED, EMBED))
    def score(g):
        ms = [metrics(qs[:t], g) for _, qs, t in sets]
        return (sum(m[0] + m[3] for m in ms) / len(ms), -g[0] - g[1])
    best = max(grid, key=score)
    print("chosen:", dict(zip(("shortlist", "contour_shortlist", "vote", "dense", "diagonal"), best)))
    for name, qs, t in sets:
        print(f"{name}: tuning {len(qs[:t])}: {fmt(metrics(qs[:t], best))}")
        print(f"{name}: held-out {len(qs[t:])}: {fmt(metrics(qs[t:], best))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True, action="append")
    ap.add_argument("--manifest", required=True, action="append")
    ap.add_argument("--db", required=True, action="append")
    ap.add_argument("--tune", type=int, action="append")
    ap.add_argument("--evaluate", help="shortlist,contour_shortlist,vote,dense,diagonal")
    ap.add_argument("--fusion", action="store_true",
                    help="tune the final score's weights on the lists as dumped")
    ap.add_argument("--fusion-texture", action="store_true",
                    help="tune the weights for songs whose mix does not carry the tune, and "
                         "the mix-melody agreement band between them and the plain ones")
    args = ap.parse_args()
    n = len(args.dump)
    if len(args.manifest) != n or len(args.db) != n or len(args.tune or [600] * n) != n:
        ap.error("give --manifest, --db (and --tune) once per --dump")
    if args.fusion or args.fusion_texture:
        tune_fusion([(args.dump[i], load_fusion(args.dump[i], args.manifest[i], args.db[i]),
                      (args.tune or [600] * n)[i]) for i in range(n)], args.fusion_texture)
        return
    sets = [
        (args.dump[i], load_queries(args.dump[i], args.manifest[i], args.db[i]),
         (args.tune or [600] * n)[i])
        for i in range(n)
    ]
    if n > 1:
        tune_jointly(sets, args.evaluate)
        return
    queries = sets[0][1]
    args.tune = sets[0][2]

    if args.evaluate:
        k, ck, wv, wd, wg = (float(x) for x in args.evaluate.split(","))
        setting = (k, ck, wv, wd, wg)
        print(f"all {len(queries)}: {fmt(metrics(queries, setting))}")
        for d in sorted({q[0] for q in queries}):
            sub = [q for q in queries if q[0] == d]
            print(f"  {d:<7} {len(sub):>4}: {fmt(metrics(sub, setting))}")
        return

    tune, held = queries[: args.tune], queries[args.tune :]
    grid = list(itertools.product(SHORTLISTS, CONTOUR, VOTE, EMBED, EMBED))
    results = {g: metrics(tune, g) for g in grid}
    key = lambda g: (results[g][0] + results[g][3], -g[0] - g[1])
    best = max(grid, key=key)
    print("tuning queries:", len(tune), "held-out queries:", len(held))
    print("vote  contour  best weights (vote, dense, diagonal)  top1  top10  mrr  (tuning queries)")
    for k, ck in itertools.product(SHORTLISTS, CONTOUR):
        g = max((g for g in grid if g[:2] == (k, ck)), key=key)
        t1, _, t10, mrr = results[g]
        print(f"{k:<5} {ck:<8} {g[2:]!s:<36} {t1:.3f} {t10:.3f}  {mrr:.3f}")
    print("alignment only, same lists: %s" % fmt(metrics(tune, best[:2] + (0, 0, 0))))
    print("chosen:", dict(zip(("shortlist", "contour_shortlist", "vote", "dense", "diagonal"), best)))
    for name, qs in (("held-out", held), ("all", queries)):
        print(f"{name}: {fmt(metrics(qs, best))}")
        for d in sorted({q[0] for q in qs}):
            sub = [q for q in qs if q[0] == d]
            print(f"  {d:<7} {len(sub):>4}: {fmt(metrics(sub, best))}")
    # Recall of the candidate lists: how often the song is among them at all.
    for k, ck in ((10, 0), (100, 0), (0, 20), (100, 20), (100, 50)):
        inside = sum(bool((((a[:, 4] < k) | (a[:, 5] < ck)) & t).any()) for _, a, t in queries)
        print(f"recall, vote {k} + contour {ck}: {inside / len(queries):.3f}")


# The final score as src/search/learned.rs computes it: plain weights (dense, diagonal, melody
# vote, hub), the weights for songs whose mix does not carry the tune plainly (dense, diagonal,
# melody vote; `by_texture`) and the mix–melody agreement between which they blend.
FUSION_SHIPPED = (0.05, 0.1, 0.0, 0.25)
ENSEMBLE_SHIPPED = (0.0, 0.0, 0.05)
GATE_SHIPPED = (0.35, 0.7)
FUSION_GRID = list(itertools.product((0, 0.05, 0.1), (0, 0.05, 0.1, 0.2),
                                     (0, 0.05, 0.1, 0.15, 0.2, 0.3), (0.1, 0.15, 0.2, 0.25, 0.35)))
ENSEMBLE_GRID = list(itertools.product((0, 0.05), (0, 0.05, 0.1), (0.03, 0.05, 0.07, 0.1, 0.15)))
GATE_GRID = [(lo, hi) for lo in (0.3, 0.35, 0.4, 0.45, 0.5) for hi in (0.6, 0.65, 0.7, 0.75, 0.8)]


def load_fusion(dump, manifest, db):
    """The candidates of every query as padded arrays: features [alignment, dense, diagonal,
    melody vote, hub lead, mix–melody agreement (NaN: none)], which is the true song, which
    entries are real. Also the manifest rows."""
    rows, lists = [], []
    for row, truth, cands in read_dump(dump, manifest, db):
        if cands and len(cands[0]) < 9:
            raise SystemExit(f"{dump}: no melody vote or hub lead (dumped by an older build)")
        rows.append(row)
        lists.append(([[c[2] or 0.0, c[3], c[4], c[7], c[8],
                        np.nan if len(c) < 11 or c[10] is None else c[10]] for c in cands],
                      [c[0] == truth for c in cands]))
    width = max((len(f) for f, _ in lists), default=1)
    X = np.zeros((len(lists), width, 6))
    T = np.zeros((len(lists), width), bool)
    M = np.zeros((len(lists), width), bool)
    for i, (f, t) in enumerate(lists):
        if f:
            X[i, :len(f)] = f
            T[i, :len(f)] = t
            M[i, :len(f)] = True
    return dict(X=X, T=T, M=M, rows=rows)


def fusion_top1(q, plain=FUSION_SHIPPED, ensemble=ENSEMBLE_SHIPPED, gate=GATE_SHIPPED, sl=slice(None)):
    """Queries whose true song scores above every other candidate."""
    X, T, M = q["X"][sl], q["T"][sl], q["M"][sl]
    a, d, g, mv, hub, agr = (X[:, :, k] for k in range(6))
    lo, hi = gate
    with np.errstate(invalid="ignore"):
        share = (np.clip((agr - lo) / (hi - lo), 0, 1) if hi > lo
                 else (agr >= hi).astype(float))
    share = np.where(np.isnan(agr), 1.0, share)  # no melody segments: the plain weights
    w = [share * p + (1 - share) * e for p, e in zip(plain[:3], ensemble)]
    score = (a + w[0] * d + w[1] * g + w[2] * mv) / (1 + w[0] + w[1] + w[2]) - plain[3] * hub
    score = np.where(M, score, -np.inf)
    truth = np.where(T, score, -np.inf).max(1)
    other = np.where(T | ~M, -np.inf, score).max(1)
    return int(((truth > other) & T.any(1)).sum())


def tune_fusion(sets, texture=False):
    """Tunes the plain weights (or, with `texture`, the ensemble weights and the agreement
    band) on the first queries of every set, and reports the rest."""
    if texture:
        names = ("ensemble dense", "ensemble diagonal", "ensemble melody_vote", "low", "high")
        grid = [e + gt for e in ENSEMBLE_GRID for gt in GATE_GRID]
        args = lambda w: dict(ensemble=w[:3], gate=w[3:])
        shipped = ENSEMBLE_SHIPPED + GATE_SHIPPED
    else:
        names = ("dense", "diagonal", "melody_vote", "hub")
        grid = FUSION_GRID
        args = lambda w: dict(plain=w)
        shipped = FUSION_SHIPPED
    tune = {w: [fusion_top1(qs, sl=slice(0, t), **args(w)) for _, qs, t in sets] for w in grid}
    print("found first on the tuning queries", [(name, min(t, len(qs["T"]))) for name, qs, t in sets])
    print("shipped", dict(zip(names, shipped)),
          [fusion_top1(qs, sl=slice(0, t)) for _, qs, t in sets])
    ranked = sorted(grid, key=lambda w: (-sum(tune[w]), sum(w)))
    for w in ranked[:10]:
        print(dict(zip(names, w)), tune[w], sum(tune[w]))
    best = ranked[0]
    for name, qs, t in sets:
        if len(qs["T"]) > t:
            print(f"{name}: the rest ({len(qs['T']) - t}): shipped "
                  f"{fusion_top1(qs, sl=slice(t, None))}, chosen "
                  f"{fusion_top1(qs, sl=slice(t, None), **args(best))}")


def fmt(m):
    return "top1 %.3f top5 %.3f top10 %.3f mrr %.3f" % m


if __name__ == "__main__":
    main()
