"""Wall time of `cpragate scan` against the vulnerable example API (target: < 60 s).

    .venv/bin/python bench/scan_bench.py [--rate 50] [--rounds 3] [--unsafe-methods]

Starts the example API (cpragate.testing.vulnapi) on loopback, logs in two users, runs the
full scan in-process ``--rounds`` times and prints wall time, requests and findings per
round, and the best and median round. Recorded in bench/SCAN_RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

from cpragate.openapi import load_spec
from cpragate.scanner import scan
from cpragate.testing.vulnapi import VulnApi


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=20.0, help="--rate of the scan (default 20, the CLI default)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--unsafe-methods", action="store_true")
    args = ap.parse_args()
    walls = []
    for i in range(args.rounds):
        with VulnApi() as api:
            a, b = api.login("alice", "alice-Passw0rd!"), api.login("bob", "bob-Passw0rd!")
            started = time.monotonic()
            result = scan(load_spec(api.spec_path), api.url, [f"alice={a}", f"bob={b}"], rate=args.rate,
                          unsafe_methods=args.unsafe_methods)  # fmt: skip
            wall = time.monotonic() - started
        walls.append(wall)
        print(f"round {i + 1}: {wall:.1f} s wall, {result.requests} requests, {len(result.findings)} findings, "
              f"{len({f.check for f in result.findings})} distinct checks")  # fmt: skip
    print(f"best {min(walls):.1f} s, median {statistics.median(walls):.1f} s at --rate {args.rate:g} (target < 60 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
