"""Audit trail benchmark: the filter's hot-path cost, sustained events/s into SQLite and
PostgreSQL (spool → pair → pseudonymize → chain → sink), and `audit verify` events/s.

    .venv/bin/python bench/audit_bench.py            # full run, writes bench/AUDIT_RESULTS.md
    .venv/bin/python bench/audit_bench.py --quick    # a few seconds, prints only (CI)
    .venv/bin/python bench/audit_bench.py --compare 4952ba9 --events 100000 --rounds 3
        # before/after in one run: this tree and REV's src/ (git archive) benchmarked in
        # alternating subprocesses, best of the rounds, ratios in bench/AUDIT_RESULTS.md

PostgreSQL: the shared server on 127.0.0.1:5432 (db `test`), in a private schema dropped
afterwards; skipped with a note if it is not answering (a failure when CI=true).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# --src DIR benchmarks another tree's cpragate (what --compare uses for the baseline)
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else str(ROOT / "src")
sys.path.insert(0, _SRC)

from cpragate.audit.chain import key_id, verify_instance  # noqa: E402
from cpragate.audit.keys import load_signing_key  # noqa: E402
from cpragate.core.access import Identity  # noqa: E402
from cpragate.core.clock import SystemClock  # noqa: E402
from cpragate.core.exchange import Exchange  # noqa: E402
from cpragate.core.filter import FilterContext  # noqa: E402
from cpragate.core.route import RouteInfo  # noqa: E402
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings  # noqa: E402
from cpragate.filters.audit.filter import AuditFilter  # noqa: E402
from cpragate.storage.audit_sink import open_sink  # noqa: E402
from cpragate.storage.audit_spool import Spool  # noqa: E402
from cpragate.storage.audit_writer import AuditWriter, WriterOptions  # noqa: E402
from cpragate.testing import make_request, make_response  # noqa: E402

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"


def step(coro: Any) -> Any:
    """Run a coroutine that never suspends, as the data plane's run_eager does."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise RuntimeError("the audit filter suspended")


def writer(tmp: Path, sink_url: str, prefix: str = "gw") -> AuditWriter:
    spool = Spool(tmp / f"spool-{uuid.uuid4().hex[:6]}", max_bytes=4 << 30, segment_bytes=64 << 20, fsync_window=0.02)
    opts = WriterOptions(sink_url=sink_url, instance_prefix=prefix, batch=5000)
    return AuditWriter(spool, os.urandom(32), load_signing_key(None, tmp / "k.pem"), opts)


def filter_cost(tmp: Path, n: int) -> float:
    """CPU-µs per request of AuditFilter's request phase (``request_now``, else ``on_request``)
    + ``on_complete`` (this thread only)."""
    w = writer(tmp, f"sqlite:///{tmp}/unused.db")  # the writer thread is not started: hot path only
    f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=SystemClock(), stores=SimpleNamespace(audit=w)))
    route = RouteInfo("get-customer", "/v1/customers/{id}", ("GET",), "o", personal=True,
                      settings=SimpleNamespace(audit=AuditRouteSettings(subject_param="id")))
    ident = Identity(consumer="acme", purpose="service_provider", method="api_key", credential_id="ak_1")
    req = make_request("GET", "/v1/customers/42")
    resp = make_response(200, body=b"{}")
    exs = []
    for i in range(n):
        ex = Exchange(req, f"r{i}", client_ip="10.0.0.1", route=route, params={"id": str(i % 1000)}, started=time.monotonic())
        ex.identity = ident
        ex.response = resp
        ex.outcome = "served"
        exs.append(ex)
    def run(ex: Exchange) -> None:  # as the data plane does: the synchronous path first
        if f.request_now(ex) is None:
            step(f.on_request(ex))
        step(f.on_complete(ex))

    for ex in exs[: n // 10]:  # warm up (page faults of the fresh spool segment)
        run(ex)
    t0 = time.thread_time()
    for ex in exs:
        run(ex)
    took = time.thread_time() - t0
    w.spool.close()
    return took / n * 1e6


def fill(w: AuditWriter, n: int, subjects: int = 5000) -> None:
    """Spool ``n`` demo-like begin + completion pairs about ``subjects`` data subjects in turn."""

    async def go() -> None:
        for i in range(n):
            lk = w.lookup(str(i % subjects))
            pos = await w.begin(["b", time.time(), f"r{i}", "GET", "/v1/customers/{id}", "get-customer", [["id", lk]],
                                 [lk], "acme", "api_key", "service_provider", "10.0.0.1", True])
            ann = {"pii": {"categories": {"identifiers": 3, "customer_records": 2}, "entities": {"EMAIL": 1, "US_SSN": 1},
                           "spi": 1, "actions": {"mask": 1, "allow": 4}}}
            await w.complete(["c", pos, time.time(), 200, "served", None, [["pii", "annotate", "found=5"]], ann, None,
                              0, 812, 1.2])

    asyncio.run(go())


def sink_rate(tmp: Path, sink_url: str, n: int) -> tuple[float, float, str]:
    """Events/s from a filled spool into the sink (writer thread work, chain included):
    by wall time and by the writer thread's CPU time."""
    w = writer(tmp, sink_url)
    fill(w, n)
    sh = w._shipper
    sh.recover()  # open the sink (and create its tables) before timing
    t0, c0 = time.perf_counter(), time.thread_time()
    while sh.shipped_total < n:
        if not sh.step():
            break
    took, cpu = time.perf_counter() - t0, time.thread_time() - c0
    assert sh.shipped_total == n, sh.shipped_total
    w.spool.close()
    return n / took, n / cpu, w.instance_id


def verify_rate(sink_url: str, instance: str, key_path: Path, repeat: int = 1) -> tuple[float, float, int]:
    """``audit verify`` events/s of one instance, by wall and by the process's CPU (all threads:
    the PostgreSQL sink prefetches pages on a helper thread), best of ``repeat``."""
    k = load_signing_key(None, key_path).public_key()
    s = open_sink(sink_url)
    best_w = best_c = 0.0
    try:
        st = s.state(instance)
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            rep = verify_instance(instance, s.chain(instance), checkpoints=s.checkpoints(instance),
                                  keys={key_id(k): k}, head_seq=st.head_seq)
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert rep.ok, rep.as_dict()
            best_w, best_c = max(best_w, rep.events / took), max(best_c, rep.events / max(cpu, 1e-9))
    finally:
        s.close()
    return best_w, best_c, rep.events


def pg_available() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        if os.environ.get("CI") == "true":
            raise SystemExit("PostgreSQL is not answering on 127.0.0.1:5432 and CI=true") from None
        return False


def measure(n: int, repeat: int) -> dict[str, float]:
    """Every measure of one run: filter CPU-µs, sink events/s (wall, CPU) and verify events/s
    (wall, CPU) per sink; sink rows are best of ``repeat`` fresh fills."""
    m: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cpragate-audit-bench-") as d:
        tmp = Path(d)
        m["filter_us"] = min(filter_cost(tmp, max(20_000, n // 4)) for _ in range(3))
        sinks: list[tuple[str, str]] = [("sqlite", f"sqlite:///{tmp}/audit{{i}}.db")]
        schema = ""
        if pg_available():
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_BASE, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}".encode())
            sinks.append(("pg", f"{PG_BASE}?options=-csearch_path%3D{schema}"))
        try:
            for name, url_t in sinks:
                for i in range(repeat):
                    url = url_t.format(i=i)
                    rate_w, rate_c, inst = sink_rate(tmp, url, n)
                    m[f"{name}_wall"] = max(m.get(f"{name}_wall", 0.0), rate_w)
                    m[f"{name}_cpu"] = max(m.get(f"{name}_cpu", 0.0), rate_c)
                    if i == 0:
                        vw, vc, ev = verify_rate(url, inst, tmp / "k.pem", repeat=max(3, repeat))
                        assert ev == n, ev
                        m[f"{name}_verify_wall"], m[f"{name}_verify_cpu"] = vw, vc
        finally:
            if schema:
                import psycopg

                with psycopg.connect(PG_BASE, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE".encode())
    return m


_LABELS = [
    ("filter_us", "audit filter, CPU-µs per request (on_request + on_complete, hot path only)", "{:.2f}"),
    ("sqlite_wall", "sustained events/s into SQLite (WAL), chain + pseudonyms — wall", "{:,.0f}"),
    ("sqlite_cpu", "… SQLite — per writer-thread CPU second", "{:,.0f}"),
    ("sqlite_verify_wall", "`audit verify` events/s, SQLite — wall", "{:,.0f}"),
    ("sqlite_verify_cpu", "… verify SQLite — per CPU second", "{:,.0f}"),
    ("pg_wall", "sustained events/s into PostgreSQL (COPY, partitioned), chain + pseudonyms — wall", "{:,.0f}"),
    ("pg_cpu", "… PostgreSQL — per writer-thread CPU second", "{:,.0f}"),
    ("pg_verify_wall", "`audit verify` events/s, PostgreSQL — wall", "{:,.0f}"),
    ("pg_verify_cpu", "… verify PostgreSQL — per CPU second", "{:,.0f}"),
]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def compare(rev: str, n: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best of ``rounds`` alternating runs of REV's src/ and this tree's (same process setup)."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cpragate-audit-base-") as d:
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", d], input=arch, check=True)
        for r in range(rounds):
            for src, best in ((f"{d}/src", before), (str(ROOT / "src"), after)):
                out = subprocess.run(
                    [sys.executable, __file__, "--json", "--events", str(n), "--src", src],
                    capture_output=True, text=True, check=True,
                ).stdout
                for k, v in json.loads(out.strip().splitlines()[-1]).items():
                    lower_better = k == "filter_us"
                    cur = best.get(k)
                    best[k] = v if cur is None else (min(cur, v) if lower_better else max(cur, v))
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return before, after


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts, print only (CI)")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None, help="sink fills per run, best kept (default 3; --quick 1)")
    ap.add_argument("--json", action="store_true", help="print the measures as one JSON line, write nothing")
    ap.add_argument("--src", help="benchmark the cpragate package under this src/ folder")
    ap.add_argument("--compare", metavar="REV", help="before/after: REV's src/ against this tree, alternating runs")
    ap.add_argument("--rounds", type=int, default=3, help="--compare rounds (best of)")
    args = ap.parse_args()
    n = args.events or (5_000 if args.quick else 200_000)
    repeat = args.repeat or (1 if args.quick or args.json or args.compare else 3)
    if args.json:
        print(json.dumps(measure(n, repeat)))
        return 0
    machine = f"{platform.machine()}, {os.cpu_count()} cores (shared with other work), Python {platform.python_version()}"
    cmd = ".venv/bin/python bench/audit_bench.py" + "".join(
        f" --{k} {v}" for k, v in (("compare", args.compare), ("events", args.events), ("rounds", args.compare and args.rounds))
        if v)
    if args.compare:
        before, after = compare(args.compare, n, args.rounds)
        rows = [(label, fmt.format(before[k]) if k in before else "—", fmt.format(after[k]) if k in after else "—",
                 (f"{after[k] / before[k]:.2f}× (lower is better)" if k == "filter_us" else f"{after[k] / before[k]:.2f}×")
                 if k in before and k in after else "—")
                for k, label, fmt in _LABELS]
        for r in rows:
            print(" | ".join(r))
        load = os.getloadavg()[0]
        md = [
            "# Audit trail benchmark: before / after",
            "",
            f"- commit: `{_git('rev-parse', '--short', 'HEAD')}` against `{args.compare}`, "
            f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `{cmd}`",
            f"- machine: {machine}; load average at the end ≈ {load:.1f}",
            f"- {n:,} events per sink, best of {args.rounds} alternating rounds per tree",
            "- targets (issue 6): ≥ 20,000 events/s into each sink, verify ≥ 200,000 events/s, filter ≤ 6 CPU-µs/request",
            "",
            "| measure | before | after | ratio |",
            "|---|---|---|---|",
            *[f"| {a} | {b} | {c} | {r} |" for a, b, c, r in rows],
            "",
        ]
        (ROOT / "bench" / "AUDIT_RESULTS.md").write_text("\n".join(md) + _HOW)
        return 0
    m = measure(n, repeat)
    rows2 = [(label, fmt.format(m[k])) for k, label, fmt in _LABELS if k in m]
    if "pg_wall" not in m:
        rows2.append(("PostgreSQL", "skipped: not answering on 127.0.0.1:5432"))
    width = max(len(r[0]) for r in rows2)
    for name, val in rows2:
        print(f"{name:<{width}}  {val}")
    if not args.quick:
        md = [
            "# Audit trail benchmark",
            "",
            f"- commit: `{_git('rev-parse', '--short', 'HEAD')}`, date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `{cmd}`",
            f"- machine: {machine}; load average ≈ {os.getloadavg()[0]:.1f}",
            f"- {n:,} events per sink, best of {repeat} fills",
            "- targets (issue 6): ≥ 20,000 events/s into each sink, verify ≥ 200,000 events/s, filter ≤ 6 CPU-µs/request",
            "",
            "| measure | result |",
            "|---|---|",
            *[f"| {a} | {b} |" for a, b in rows2],
            "",
        ]
        (ROOT / "bench" / "AUDIT_RESULTS.md").write_text("\n".join(md) + _HOW)
    return 0


_HOW = """
How: the filter row times `on_request` + `on_complete` on real Exchange objects with a real
memory-mapped spool (thread CPU time, best of 3; the writer thread is not running). The sink
rows fill a spool with begin + completion pairs, then time the writer's own loop (read, pair,
resolve subject keys, build + hash + chain events, one transaction per 2,500 events) until
all are stored — by wall time and by the writer thread's CPU time (the machine is shared:
wall time depends on what else runs, CPU time much less). Verify reads the chain back and
re-hashes every event (best of 3; CPU = the whole process, the PostgreSQL sink prefetches
pages on a helper thread). The SQLite sink copies WAL pages into the database on its own
checkpointer thread, so the writer thread's CPU column leaves that work out.
"""


if __name__ == "__main__":
    raise SystemExit(main())
