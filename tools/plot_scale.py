#!/usr/bin/env python3
"""Plot query latency and top-1 against library size from `earworm bench scale --json` reports.

Usage: tools/plot_scale.py OUT.png REPORT.json...   (needs matplotlib)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    reports = sorted((json.load(open(p)) for p in paths), key=lambda r: r["songs"])
    songs = [r["songs"] for r in reports]
    fig, (lat, acc) = plt.subplots(1, 2, figsize=(10, 4))
    lat.plot(songs, [r["median_ms"] for r in reports], "o-", label="median")
    lat.plot(songs, [r["p95_ms"] for r in reports], "s-", label="p95")
    lat.set_xscale("log")
    lat.set_xlabel("songs in library")
    lat.set_ylabel("query latency (ms)")
    lat.set_ylim(bottom=0)
    lat.grid(True, which="both", alpha=0.3)
    lat.legend()
    acc.plot(songs, [r["top1"] for r in reports], "o-", label="top-1")
    acc.plot(songs, [r["top10"] for r in reports], "s-", label="top-10")
    acc.set_xscale("log")
    acc.set_xlabel("songs in library")
    acc.set_ylabel("share of hums")
    acc.set_ylim(0, 1)
    acc.grid(True, which="both", alpha=0.3)
    acc.legend()
    derived = ", ".join(
        f"{r['songs']}: {r['makeup']['derived_songs']} derived" for r in reports if r["makeup"]["derived_songs"]
    )
    without = ", ".join(str(r["songs"]) for r in reports if r.get("melody_segments", 0) == 0)
    notes = [n for n in (derived, f"no melody segments (melody vote off): {without}" if without else "") if n]
    fig.suptitle("earworm bench scale (2-core CPU)" + "".join(f" — {n}" for n in notes), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
