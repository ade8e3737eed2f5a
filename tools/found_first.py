#!/usr/bin/env python3
"""Queries found first (rank 1), per texture or difficulty, for one or more `earworm eval
--report` files over the same manifest, side by side: "a -> b -> c / n" per group. For
comparing a trial with the shipped models on the choosing sets (tools/choosing_sets.sh).

usage: tools/found_first.py REPORT.json... [--by texture|difficulty]
"""
import argparse
import collections
import json


def counts(path, key):
    found, total = collections.Counter(), collections.Counter()
    for o in json.load(open(path))["outcomes"]:
        group = o.get(key) or "-"
        total[group] += 1
        found[group] += o.get("rank") == 1
    found["all"], total["all"] = sum(found.values()), sum(total.values())
    return found, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--by", default="texture", choices=("texture", "difficulty"))
    a = ap.parse_args()
    rows = [counts(p, a.by) for p in a.reports]
    total = rows[0][1]
    if any(t != total for _, t in rows[1:]):
        raise SystemExit("the reports cover different queries: compare reports of one manifest")
    for group in ["all"] + sorted(g for g in total if g != "all"):
        print(f"{group}: " + " -> ".join(str(f[group]) for f, _ in rows) + f" / {total[group]}")


if __name__ == "__main__":
    main()
