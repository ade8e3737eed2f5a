#!/usr/bin/env python3
"""Writes the whole system's figures on one slice of an `earworm eval --report` into a model
card's "metrics" (overall, per texture and per difficulty), with the command that made them.

usage: tools/card_system_metrics.py CARD.json KEY REPORT.json FROM TO "COMMAND"
  e.g. tools/card_system_metrics.py models/melody.card.json stress_hums_reported_half \
       runs/stress_shipped_hums.json 392 784 "tools/evaluate_textures.sh: ..."
"""
import json
import os
import sys

from report_table import metrics  # the same figures as the README's tables

card_path, key, report, lo, hi, command = sys.argv[1:7]
outcomes = json.load(open(report))["outcomes"][int(lo) : int(hi)]


def summary(group):
    n, top1, top5, top10, mrr, _, _ = metrics(group)
    return {"queries": n, "top1": round(top1, 3), "top5": round(top5, 3), "top10": round(top10, 3), "mrr": round(mrr, 3)}


entry = {"overall": summary(outcomes), "command": command}
for field in ("texture", "difficulty"):
    names = sorted({o[field] for o in outcomes if o.get(field)})
    if names:
        entry[f"by_{field}"] = {n: summary([o for o in outcomes if o.get(field) == n]) for n in names}
card = json.load(open(card_path))
card.setdefault("metrics", {})[key] = entry
tmp = card_path + ".tmp"
with open(tmp, "w") as f:
    json.dump(card, f, indent=2)
    f.write("\n")
os.replace(tmp, card_path)
print(key, json.dumps(entry["overall"]))
