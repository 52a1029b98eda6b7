"""CPU per event of each audit thread while a producer spools demo-like events at a steady rate.

bench/audit_bench.py times the writer's loop on a filled spool (the writer thread only);
here the trail runs as in the gateway: a producer on the main thread spools begin +
completion pairs (``AuditWriter.begin``/``complete``, ~RATE a second, in 10 ms steps) while
the writer thread ships them to SQLite, the spool's fsync thread syncs its windows and the
SQLite sink's checkpointer copies the WAL into the database. Each thread's CPU time is
read from ``/proc/self/task/<tid>/schedstat`` (nanoseconds) before and after, and printed
per event produced.

    .venv/bin/python bench/audit_threads.py                           # this tree, 8,000/s, 6 s
    .venv/bin/python bench/audit_threads.py --rate 8000 --seconds 6 --src /other/tree/src
    .venv/bin/python bench/audit_threads.py --quick                   # 1 s (CI)

Linux only. The machine is shared: alternate trees and take several rounds. The producer's
figure is not the gateway's audit filter (bench/complete_instr.py) and runs with the
interpreter's default GC thresholds, not the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else str(ROOT / "src")
sys.path.insert(0, _SRC)
sys.path.insert(0, str(ROOT / "bench"))

from harness import thread_cpu  # noqa: E402  (bench/harness.py)

from cpragate.audit.keys import load_signing_key  # noqa: E402
from cpragate.storage.audit_spool import Spool  # noqa: E402
from cpragate.storage.audit_writer import AuditWriter, WriterOptions  # noqa: E402


def run(rate: float, seconds: float) -> tuple[int, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="cpragate-audit-threads-") as d:
        tmp = Path(d)
        spool = Spool(tmp / "spool", max_bytes=4 << 30, segment_bytes=64 << 20, fsync_window=0.02)
        w = AuditWriter(spool, os.urandom(32), load_signing_key(None, tmp / "k.pem"),
                        WriterOptions(sink_url=f"sqlite:///{tmp}/audit.db", instance_prefix="gw"))
        w.start()

        async def produce() -> int:
            n, t0, k = 0, time.monotonic(), max(1, int(rate / 100))
            while time.monotonic() - t0 < seconds:
                for _ in range(k):
                    lk = w.lookup("42")
                    pos = await w.begin(["b", time.time(), f"r{n}", "GET", "/v1/customers/{id}", "get-customer",
                                         [["id", lk]], [lk], "acme", "api_key", "service_provider", "10.0.0.1", True])
                    ann = {"pii": {"categories": {"identifiers": 3, "customer_records": 2},
                                   "entities": {"EMAIL": 1, "US_SSN": 1}, "spi": 1, "actions": {"mask": 1, "allow": 4}}}
                    await w.complete(["c", pos, time.time(), 200, "served", None, [["pii", "annotate", "found=5"]],
                                      ann, None, 0, 812, 1.2])
                    n += 1
                await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
            return n

        time.sleep(0.5)  # the writer's start-up (sink opened, tables made) left out
        before = thread_cpu()
        n = asyncio.run(produce())
        deadline = time.monotonic() + 30
        while w._shipper.shipped_total < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the last checkpoint (the checkpointer's spacing is 0.5 s)
        after = thread_cpu()
        shipped = w._shipper.shipped_total
        w.close_sync()
        assert shipped == n, (shipped, n)
        return n, {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=8000.0, help="events a second")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--src", help="measure the cpragate package under this src/ folder")
    ap.add_argument("--quick", action="store_true", help="1 s at 1,000 events a second (CI: the harness runs)")
    args = ap.parse_args()
    if args.quick:
        args.rate, args.seconds = 1000.0, 1.0
    n, cpu = run(args.rate, args.seconds)
    if n == 0:
        raise SystemExit("no event was produced")
    print(f"events={n} " + " ".join(f"{k}={v / n * 1e6:.2f}" for k, v in sorted(cpu.items())) + "  (CPU-µs per event)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
