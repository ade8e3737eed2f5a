#!/usr/bin/env python3
"""Compares two `earworm eval --report` files of the same queries on the same library made on
different devices (tools/device_check.sh: GPU and CPU): accuracy and latency side by side, and
whether every query found its target at the same rank with the same scores.

    tools/compare_device_reports.py GPU_REPORT.json CPU_REPORT.json
"""
import json
import sys


def main(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    for name, r in (("GPU", a), ("CPU", b)):
        o = r["overall"]
        print(f"  {name}: {o['queries']} queries, top-1 {o['top1']:.3f}, top-10 {o['top10']:.3f}, "
              f"latency median {o['median_ms']:.0f} ms, p95 {o['p95_ms']:.0f} ms")
    ranks_differ, worst = 0, 0.0
    by_query = {q["query"]: q for q in b["outcomes"]}
    for q in a["outcomes"]:
        other = by_query.get(q["query"])
        if other is None or other["rank"] != q["rank"]:
            ranks_differ += 1
            continue
        for x, y in zip(q["scores"], other["scores"]):
            worst = max(worst, abs(x - y))
    print(f"  same target rank for {len(a['outcomes']) - ranks_differ} of {len(a['outcomes'])} "
          f"queries; largest score difference {worst:.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
