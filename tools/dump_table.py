#!/usr/bin/env python3
"""Per-difficulty accuracy table of the learned search recomputed from candidates dumped during
an eval run (EARWORM_SHORTLIST=100 EARWORM_DUMP_CANDIDATES=FILE earworm eval ...), for a given
shortlist length and vote weight: the ranking the engine makes with those settings.

  python3 tools/dump_table.py --dump FILE --manifest CSV --db DIR --shortlist 100 --vote-weight 0.1
"""
import argparse, csv, json, os, sqlite3

ap = argparse.ArgumentParser()
ap.add_argument("--dump", required=True)
ap.add_argument("--manifest", required=True)
ap.add_argument("--db", required=True)
ap.add_argument("--shortlist", type=int, default=100)
ap.add_argument("--vote-weight", type=float, default=0.1)
a = ap.parse_args()
con = sqlite3.connect(os.path.join(a.db, "catalog.sqlite"))
id_of = {os.path.basename(p): i for i, p in con.execute("SELECT id, path FROM songs")}
rows = list(csv.DictReader(open(a.manifest)))
dumps = [json.loads(l) for l in open(a.dump)]
assert len(rows) == len(dumps)
groups = {"overall": []}
for row, cands in zip(rows, dumps):
    truth = id_of.get(os.path.basename(row["target_file"]))
    short = sorted(cands[: a.shortlist], key=lambda c: -(a.vote_weight * c[1] + (1 - a.vote_weight) * (c[2] or 0.0)))
    rank = next((r + 1 for r, c in enumerate(short) if c[0] == truth), None)
    groups["overall"].append(rank)
    groups.setdefault(row.get("difficulty", "?"), []).append(rank)
print("| group   | queries | top1  | top5  | top10 | MRR   |")
print("|---------|--------:|------:|------:|------:|------:|")
for g in ["overall"] + sorted(k for k in groups if k != "overall"):
    r = groups[g]; n = len(r)
    at = lambda k: sum(1 for x in r if x is not None and x <= k) / n
    mrr = sum(1 / x for x in r if x) / n
    print(f"| {g:<7} | {n:>7} | {at(1):.3f} | {at(5):.3f} | {at(10):.3f} | {mrr:.3f} |")
