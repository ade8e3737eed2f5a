#!/usr/bin/env python3
"""Reliability diagram of the calibrated confidence: predicted probability (binned) against the
share of top answers that were right, from the CSV `earworm calibrate --reliability` writes.

usage: tools/plot_reliability.py RELIABILITY.csv OUT.png [TITLE]
(needs matplotlib: tools/setup_python.sh installs tools/requirements.txt into tools/.venv)
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "Calibrated confidence (held-out queries)"
    rows = [r for r in csv.DictReader(open(src)) if int(r["count"]) > 0]
    pred = [float(r["mean_predicted"]) for r in rows]
    right = [float(r["share_right"]) for r in rows]
    count = [int(r["count"]) for r in rows]
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot(pred, right, "o-", color="tab:blue", label="Earworm")
    ax.set_ylabel("share of top answers right")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.set_ylim(0, 1)
    hx.bar([float(r["bin_low"]) + 0.05 for r in rows], count, width=0.09, color="tab:blue")
    hx.set_xlabel("predicted probability that the top answer is right")
    hx.set_ylabel("queries")
    hx.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
