#!/usr/bin/env python3
"""Writes `earworm eval --report` summaries into a model card's "metrics" field.

Usage: tools/card_metrics.py CARD.json REPORT.json...   (report names: eval_<set>_<method>.json)
"""
import json
import os
import sys

card_path, reports = sys.argv[1], sys.argv[2:]
card = json.load(open(card_path))
metrics = card.get("metrics") or {}
for path in reports:
    name = os.path.basename(path)[len("eval_"):-len(".json")]
    r = json.load(open(path))
    keep = lambda m: {k: m[k] for k in ("queries", "top1", "top5", "top10", "mrr", "median_ms", "p95_ms") if k in m}
    metrics[name] = {"overall": keep(r["overall"]), "by_difficulty": {d: keep(m) for d, m in r["by_difficulty"].items()}}
card["metrics"] = metrics
tmp = card_path + ".tmp"
json.dump(card, open(tmp, "w"), indent=2)
os.replace(tmp, card_path)
print(json.dumps(metrics, indent=1))
