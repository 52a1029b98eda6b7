"""How long the audit spool's periodic sync stops the event loop.

The spool's fsync thread makes the memory-mapped segment durable every ``fsync_window``
(20 ms by default). Until session 9 it called ``mmap.flush()``, which holds the GIL for
the whole ``msync`` in CPython 3.11: the event loop thread could not run for as long as
the disk took. It now calls ``os.fdatasync`` on a duplicate of the segment's descriptor
(the same pages on Linux), with the GIL released (storage/audit_spool.py).

This drives a real :class:`~cpragate.storage.audit_spool.Spool` from the main thread the
way the event loop does (append a ~600-byte record, then ~``--work`` µs of pure-Python
work, as a request's filters would) while its fsync thread syncs, once with each way of
syncing, alternating, and reports the main thread's blocked time: off the CPU without
waiting for one (``/proc/thread-self/schedstat``: wall time minus time on a CPU minus time
runnable), which is what the GIL held by the fsync thread, or a page fault waiting for
the disk, costs it; preemption by other processes is not in it. And its appends per second.

    .venv/bin/python bench/spool_sync.py                 # 3 rounds of 3 s per way
    .venv/bin/python bench/spool_sync.py --quick         # CI: one short round, no thresholds
    .venv/bin/python bench/spool_sync.py --dir /var/lib/x  # the spool on another disk

Runs the pure-Python spool (``CPRAGATE_PURE=1``) so that the old way can be switched
back on; the sync itself is the same system call either way. Wall-clock figures: they
depend on the disk and on what else runs; compare the two ways within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["CPRAGATE_PURE"] = "1"  # before cpragate is imported: the module's switch is patchable
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cpragate.storage import audit_spool  # noqa: E402

RECORD = b'["c",1,"' + b"p" * 590 + b'"]\n'


def _work(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    x = 0
    while time.perf_counter() < end:
        x += 1


def _schedstat() -> tuple[int, int]:
    """This thread's nanoseconds on a CPU and waiting for one (runnable, preempted)."""
    f = Path("/proc/thread-self/schedstat").read_text().split()
    return int(f[0]), int(f[1])


def run(way: str, folder: Path, seconds: float, work_us: float) -> dict[str, float]:
    audit_spool._FDATASYNC = way == "fdatasync"  # type: ignore[misc]
    s = audit_spool.Spool(folder, max_bytes=1 << 30, segment_bytes=16 << 20, fsync_window=0.02)
    try:
        n = 0
        cpu0, runq0 = _schedstat()
        t0 = last = time.perf_counter()
        end = t0 + seconds
        while last < end:
            if s.append(RECORD, False) is None:
                raise SystemExit("the spool refused a record (disk full?)")
            _work(work_us)
            n += 1
            last = time.perf_counter()
            if n % 20_000 == 0:  # keep the disk use bounded: what a writer would have shipped
                _, nxt = s.read(0, limit=1 << 30)
                s.release(nxt)
        wall = last - t0
        cpu1, runq1 = _schedstat()
    finally:
        s.close()
    # Off the CPU but not waiting for one: blocked (the GIL held by the fsync thread, a page
    # fault waiting for the disk). Preemption by other processes is in runq, not here.
    blocked = wall - (cpu1 - cpu0 + runq1 - runq0) / 1e9
    return {
        "appends_s": n / wall,
        "blocked_ms_s": max(0.0, blocked) * 1e3 / wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one short round (CI)")
    ap.add_argument("--seconds", type=float, default=3.0, help="per way and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=float, default=25.0, help="µs of Python work per append")
    ap.add_argument("--dir", help="where the spool goes (default: a temporary folder)")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds = 0.5, 1
    if not sys.platform.startswith("linux"):
        print("spool_sync: fdatasync is used on Linux only; nothing to compare here")
        return 0
    best: dict[str, list[dict[str, float]]] = {"mmap.flush": [], "fdatasync": []}
    with tempfile.TemporaryDirectory(prefix="cpg-spool-sync-", dir=a.dir) as tmp:
        for r in range(a.rounds):
            for way in best:
                folder = Path(tmp) / f"{way}-{r}"
                best[way].append(run(way, folder, a.seconds, a.work))
    print(f"spool sync, {a.rounds} round(s) of {a.seconds:g} s per way, {a.work:g} µs of work per append "
          "(median round):")
    print(f"  {'way':12s} {'appends/s':>10s} {'blocked ms/s':>13s}")
    for way, rows in best.items():
        rows.sort(key=lambda m: m["blocked_ms_s"])
        m = rows[len(rows) // 2]
        print(f"  {way:12s} {m['appends_s']:10,.0f} {m['blocked_ms_s']:13.2f}")
    print("  (blocked: the appending thread off the CPU without waiting for one, per second of run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
