#!/usr/bin/env python3
"""Top-1 / top-10 / MRR of an `earworm eval --report` JSON grouped by any column of its
manifest (e.g. the played set's `level`, beside eval's own `difficulty` grouping).

usage: tools/group_report.py REPORT.json MANIFEST.csv COLUMN
"""
import collections
import csv
import json
import os
import sys

report_path, manifest_path, column = sys.argv[1:4]
base = os.path.dirname(manifest_path)
value = {}
for row in csv.DictReader(open(manifest_path)):
    value[os.path.normpath(os.path.join(base, row["query_file"]))] = row[column]
groups = collections.defaultdict(list)
for o in json.load(open(report_path))["outcomes"]:
    groups[value.get(os.path.normpath(o["query"]), "?")].append(o["rank"])
print(f"{column:<12} queries   top1  top10    MRR")
for key in sorted(groups):
    ranks = groups[key]
    n = len(ranks)
    top1 = sum(1 for r in ranks if r == 1) / n
    top10 = sum(1 for r in ranks if r and r <= 10) / n
    mrr = sum(1 / r for r in ranks if r) / n
    print(f"{key:<12} {n:>7}  {top1:.3f}  {top10:.3f}  {mrr:.3f}")
