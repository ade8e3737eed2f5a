#!/usr/bin/env python3
"""Keeps queries [FROM, TO) of an `earworm eval --report` JSON (outcomes only; the summaries
are dropped, recompute them with tools/report_table.py): for fitting on one split of a set and
checking on the other.

usage: tools/slice_report.py REPORT.json FROM TO OUT.json
"""
import json
import sys

src, lo, hi, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
report = json.load(open(src))
json.dump({"outcomes": report["outcomes"][lo:hi], "sliced_from": src, "range": [lo, hi]}, open(out, "w"))
