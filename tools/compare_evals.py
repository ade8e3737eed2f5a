#!/usr/bin/env python3
"""Paired comparison of two `earworm eval --report` files over the same manifest: how many
queries each method gets right (at rank 1 and within 10) that the other misses, and the exact
two-sided sign-test (McNemar) p-value of that difference.

  python3 tools/compare_evals.py A.json B.json [--from N]

--from N skips the reports' first N queries (e.g. the ones a setting was tuned on).
"""
import json
import math
import sys


def sign_test(a_only, b_only):
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def main():
    a_path, b_path = sys.argv[1], sys.argv[2]
    skip = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--from" else 0
    a = {o["query"]: o["rank"] for o in json.load(open(a_path))["outcomes"][skip:]}
    b = {o["query"]: o["rank"] for o in json.load(open(b_path))["outcomes"][skip:]}
    common = sorted(set(a) & set(b))
    print(f"{len(common)} queries in both ({a_path} = A, {b_path} = B)")
    for k in (1, 10):
        hit = lambda r: r is not None and r <= k
        a_only = sum(1 for q in common if hit(a[q]) and not hit(b[q]))
        b_only = sum(1 for q in common if hit(b[q]) and not hit(a[q]))
        both = sum(1 for q in common if hit(a[q]) and hit(b[q]))
        print(
            f"top{k}: A {sum(hit(a[q]) for q in common) / len(common):.3f}, "
            f"B {sum(hit(b[q]) for q in common) / len(common):.3f}; "
            f"both {both}, only A {a_only}, only B {b_only}, sign test p = {sign_test(a_only, b_only):.2g}"
        )


if __name__ == "__main__":
    main()
