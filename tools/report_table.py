#!/usr/bin/env python3
"""Markdown table of an `earworm eval --report` JSON, optionally for a slice of its queries
(e.g. the held-out half of a set whose other half was used for tuning), grouped overall, by
texture and by difficulty.

usage: tools/report_table.py REPORT.json [--from N] [--to M] [--by texture|difficulty|both]
"""
import argparse
import json
import statistics


def metrics(outcomes):
    n = len(outcomes)
    ranks = [o.get("rank") for o in outcomes]
    hit = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n
    mrr = sum(1.0 / r for r in ranks if r) / n
    times = sorted(o["elapsed_ms"] for o in outcomes)
    pct = lambda p: times[min(n - 1, round(p * (n - 1)))]
    return n, hit(1), hit(5), hit(10), mrr, pct(0.5), pct(0.95)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--from", dest="lo", type=int, default=0)
    ap.add_argument("--to", dest="hi", type=int, default=None)
    ap.add_argument("--by", default="both")
    a = ap.parse_args()
    outcomes = json.load(open(a.report))["outcomes"][a.lo : a.hi]
    print("| group | queries | top1 | top5 | top10 | MRR | median ms | p95 ms |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    groups = [("overall", outcomes)]
    for key in (["texture", "difficulty"] if a.by == "both" else [a.by]):
        names = sorted({o.get(key) for o in outcomes if o.get(key)})
        groups += [(n, [o for o in outcomes if o.get(key) == n]) for n in names]
    for name, group in groups:
        if group:
            n, t1, t5, t10, mrr, med, p95 = metrics(group)
            print(f"| {name} | {n} | {t1:.3f} | {t5:.3f} | {t10:.3f} | {mrr:.3f} | {med:.0f} | {p95:.0f} |")


if __name__ == "__main__":
    main()
