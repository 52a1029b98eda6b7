"""Soak: a bounded run of mixed legitimate and hostile traffic through the full demo policy,
audit trail on PostgreSQL.

    .venv/bin/python bench/soak.py                    # 10 minutes (the recorded run)
    .venv/bin/python bench/soak.py --duration 120     # any length, in seconds
    .venv/bin/python bench/soak.py --quick            # ~15 s: the harness still works (scripts/test)
    .venv/bin/python bench/soak.py --record           # append the result to bench/SOAK_RESULTS.md
    .venv/bin/python bench/soak.py --probe            # + every 30 s the gateway prints gc objects by
                                                      #   type, Python blocks, malloc in use/free/heap
                                                      #   (mallinfo2), fds, trims (diagnosis, not recorded)
    .venv/bin/python bench/soak.py --trace            # tracemalloc diff after warm-up (slow; CPRAGATE_PURE=1
                                                      #   to see frames inside the compiled modules)

Processes: the demo API (mutual TLS, its own process) and `cpragate run` with the demo
policy (its own process, the one measured), the audit sink switched to a private schema
in the shared PostgreSQL (127.0.0.1:5432, db `test`; dropped afterwards). The load
generator (this process) keeps ``--connections`` TLS connections busy on 127.0.0.1, each
request carrying its own ``x-request-id``:

* legitimate: the demo's customer, list, order, ticket (POST) and health calls;
* hostile: BOLA and BFLA attempts, no or wrong credentials, unrouted and non-canonical
  paths, invalid and mass-assigning bodies, method-override headers, oversized headers,
  and raw malformed framing (CL+TE) on its own connection.

Checks (each pass/fail in the summary; the run exits 1 if one fails):

* heap RSS (RssAnon) growth of the gateway under 10 % from the end of warm-up to the end
  (mean of the first 10 % of samples after warm-up against the mean of the last 10 %; not
  judged in --quick, too short to mean anything). Total RSS is reported beside it: it also
  counts the audit spool's memory-mapped 16 MiB segments, whose touched pages rise as a
  segment fills and fall when it is released, a saw-tooth of up to ~16 MiB that says
  nothing about leaks;
* no 5xx made by the gateway itself (problem+json answers; the demo API never fails);
* audit events equal requests served: one event in PostgreSQL per request id sent to an
  audited route (the demo's /health is a plain passthrough; a head the parser refuses, 431 or
  malformed framing, is no exchange: counted, not audited), none missing, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import httptools

ROOT = Path(__file__).resolve().parents[1]
PG_BASE = os.environ.get("CPRAGATE_SOAK_PG", "postgresql://postgres@127.0.0.1:5432/test")
SUPPORT = "cpg_dgf2lgz3_ewF30G2dBW_Tx83hO7kVLYL5KY_kU1m0zieaepiPl5Q"
MARKETING = "cpg_k6kmcfm4_ERMdnzNrr3kCo1MLp2Aju2K9QMEzh0j5c7WhGWWOrl0"
MALLORY = "{MALLORY}"  # replaced by the key `cpragate keys create` prints for the run
JSON = {"content-type": "application/json"}

# (weight, kind, method, path, headers, body, expected statuses)
MIX: list[tuple[int, str, str, str, dict[str, str], bytes, tuple[int, ...]]] = [
    (20, "legit", "GET", "/v1/customers/42", {"x-api-key": SUPPORT}, b"", (200,)),
    (10, "legit", "GET", "/v1/customers?limit=3", {"x-api-key": SUPPORT}, b"", (200,)),
    (10, "legit", "GET", "/v1/orders/10005", {"x-api-key": SUPPORT}, b"", (200,)),
    (8, "legit", "GET", "/v1/orders/10001", {"x-api-key": MARKETING}, b"", (200,)),
    (6, "legit", "GET", "/v1/customers/183/orders", {"x-api-key": SUPPORT}, b"", (200,)),
    (5, "legit", "POST", "/v1/tickets", {"x-api-key": SUPPORT, **JSON}, b'{"customer_id": 42, "body": "please delete my data"}', (201,)),
    (5, "legit", "GET", "/health", {}, b"", (200,)),
    (3, "legit", "GET", "/v1//customers/./42", {"x-api-key": SUPPORT}, b"", (200,)),
    # Hostile calls come from other addresses (127.0.0.10-200, rotated) and, when they
    # authenticate, from a third consumer "mallory" (tenant t2, created in the soak's store):
    # the anomaly filter may block those (403 CPG-RATE-005, expected), never the legitimate
    # consumers above, which do nothing hostile.
    (4, "hostile", "GET", "/v1/customers/42", {"x-api-key": MALLORY}, b"", (404,)),  # BOLA: t1 customer
    (4, "hostile", "GET", "/v1/orders/10005", {"x-api-key": MALLORY}, b"", (404,)),  # BOLA: t1 order
    (4, "hostile", "GET", "/v1/tickets/50001", {"x-api-key": MALLORY}, b"", (403,)),  # BFLA: no tickets:read
    (3, "hostile", "GET", "/v1/customers/42", {}, b"", (401,)),
    (3, "hostile", "GET", "/v1/customers/42", {"x-api-key": "cpg_nothere1_" + "x" * 43}, b"", (401,)),
    (3, "hostile", "GET", "/v1/admin", {"x-api-key": MALLORY}, b"", (404,)),
    (3, "hostile", "GET", "/v1/customers/42/..%2f..%2fadmin", {"x-api-key": MALLORY}, b"", (400,)),
    (2, "hostile", "GET", "/v1/customers/%252e%252e/admin", {"x-api-key": MALLORY}, b"", (400,)),
    (2, "hostile", "GET", "/v1/customers;jsessionid=1/42", {"x-api-key": MALLORY}, b"", (400,)),
    (2, "hostile", "POST", "/v1/tickets", {"x-api-key": MALLORY, **JSON}, b'{"customer_id": "x"', (400,)),
    (2, "hostile", "POST", "/v1/tickets", {"x-api-key": MALLORY, **JSON}, b'{"customer_id": 42, "body": "x", "status": "closed", "admin": true}', (400, 422)),
    (2, "hostile", "POST", "/v1/customers/42", {"x-api-key": MALLORY, "x-http-method-override": "DELETE", **JSON}, b"{}", (405,)),
    (1, "hostile", "GET", "/v1/customers/42", {"x-api-key": MALLORY, "x-big": "a" * 40000}, b"", (431,)),
]
# The demo's health check is a plain passthrough (`filters: []`): not audited, by policy.
NOT_AUDITED = {"/health"}
FRAMING = b"POST /v1/tickets HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"


@dataclass
class Stats:
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    blocked: int = 0
    gateway_5xx: int = 0
    other_5xx: int = 0
    expected_ids: list[str] = field(default_factory=list)
    what: dict[str, str] = field(default_factory=dict)
    not_audited: int = 0
    framing_sent: int = 0
    framing_refused: int = 0
    errors: int = 0


class _Parser:
    def __init__(self) -> None:
        self.p = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self.h: dict[bytes, bytes] = {}
        self.b: list[bytes] = []

    def on_header(self, n: bytes, v: bytes) -> None:
        self.h[n.lower()] = v

    def on_body(self, b: bytes) -> None:
        self.b.append(b)

    def on_message_complete(self) -> None:
        self.done.append((self.p.get_status_code(), self.h, b"".join(self.b)))
        self.h, self.b = {}, []


class Conn:
    def __init__(self, port: int, ctx: ssl.SSLContext, source: str = "127.0.0.1") -> None:
        self.port, self.ctx, self.source = port, ctx, source
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None
        self.uses = 0

    async def open(self) -> None:
        self.r, self.w = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ctx, server_hostname="localhost", local_addr=(self.source, 0)
        )
        self.parser = _Parser()
        self.uses = 0

    async def close(self) -> None:
        if self.w is not None:
            self.w.close()
            try:
                await asyncio.wait_for(self.w.wait_closed(), 2)
            except (OSError, ssl.SSLError, TimeoutError):
                pass
        self.w = None

    async def exchange(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes] | None:
        if self.w is None:
            await self.open()
        assert self.r is not None and self.w is not None
        self.uses += 1
        self.w.write(raw)
        await self.w.drain()
        while not self.parser.done:
            data = await asyncio.wait_for(self.r.read(65536), 30)
            if not data:
                await self.close()
                return None
            self.parser.p.feed_data(data)
        return self.parser.done.pop(0)


def head(method: str, path: str, headers: dict[str, str], body: bytes, rid: str) -> bytes:
    hs = {"host": "localhost", "x-request-id": rid, **headers}
    if body or method in ("POST", "PUT", "PATCH"):
        hs["content-length"] = str(len(body))
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n").encode() + body


def hostile_source(rng: random.Random) -> str:
    return f"127.0.0.{rng.randint(10, 200)}"


async def worker(wid: int, port: int, ctx: ssl.SSLContext, deadline: float, st: Stats, rng: random.Random, mallory: str) -> None:
    weights = [m[0] for m in MIX]
    legit = Conn(port, ctx)
    bad = Conn(port, ctx, hostile_source(rng))
    n = 0
    while time.monotonic() < deadline:
        n += 1
        if rng.random() < 0.005:  # raw malformed framing on its own connection: refused, not an exchange
            f = Conn(port, ctx, hostile_source(rng))
            st.framing_sent += 1
            try:
                got = await f.exchange(FRAMING)
                if got is not None and got[0] == 400:
                    st.framing_refused += 1
            except (OSError, ssl.SSLError, TimeoutError, httptools.HttpParserError):
                st.errors += 1
            await f.close()
            continue
        _, kind, method, path, headers, body, expect = rng.choices(MIX, weights)[0]
        if kind == "hostile":
            c = bad
            if c.uses >= 50:  # a fresh address now and then, like a distributed attacker
                await c.close()
                c = bad = Conn(port, ctx, hostile_source(rng))
            if headers.get("x-api-key") == MALLORY:
                headers = {**headers, "x-api-key": mallory}
        else:
            c = legit
        rid = f"soak-{wid}-{n}"
        try:
            got = await c.exchange(head(method, path, headers, body, rid))
        except (OSError, ssl.SSLError, TimeoutError, httptools.HttpParserError):
            st.errors += 1
            await c.close()
            continue
        st.sent += 1
        if got is None:  # closed without an answer: count it, the event must still exist
            st.errors += 1
            if path not in NOT_AUDITED:
                st.expected_ids.append(rid)
            continue
        status, hs, rbody = got
        if path in NOT_AUDITED or status == 431:
            st.not_audited += 1  # a passthrough route by policy, or a head the parser refused
        else:
            st.expected_ids.append(rid)
            st.what[rid] = f"{method} {path[:40]} -> {status}"
        st.by_status[status] = st.by_status.get(status, 0) + 1
        made_here = hs.get(b"content-type", b"").startswith(b"application/problem+json") and b"urn:cpragate:problem" in rbody
        code = ""
        if made_here:
            try:
                code = str(json.loads(rbody).get("code", ""))
            except ValueError:
                code = "?"
            st.codes[code] = st.codes.get(code, 0) + 1
        if status not in expect:
            if kind == "hostile" and code in ("CPG-RATE-004", "CPG-RATE-005", "CPG-RATE-001"):
                st.blocked += 1  # the anomaly filter (or a limit) stopped the attacker: expected
            else:
                key = f"{method} {path[:40]} -> {status} {code}"
                st.unexpected[key] = st.unexpected.get(key, 0) + 1
        if status >= 500:
            if made_here:
                st.gateway_5xx += 1
            else:
                st.other_5xx += 1
        if hs.get(b"connection", b"").lower() == b"close":
            await c.close()
    await legit.close()
    await bad.close()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) in KiB. RssAnon is the heap, where a leak would show; the rest is
    file-backed, mostly the audit spool's memory-mapped 16 MiB segments, whose touched pages
    saw-tooth as segments fill and are released after shipping."""
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "RssAnon:")):
            got[line.split(":")[0]] = int(line.split()[1])
    return got.get("VmRSS", 0), got.get("RssAnon", 0)


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened:\n{log.read_text()[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_api(port: int, state: Path) -> None:
    """The demo API over mutual TLS (child process)."""
    from cpragate.demo.api import DemoApi
    from cpragate.demo.certs import ensure_dev_pki
    from cpragate.demo.run import api_ssl_context
    from cpragate.server.origin import OriginServer
    from cpragate.server.serve import new_loop

    async def main() -> None:
        srv = await OriginServer(DemoApi(), ssl_context=api_ssl_context(ensure_dev_pki(state))).start("127.0.0.1", port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await srv.close()

    loop = new_loop()
    loop.run_until_complete(main())


def pg_schema(create: bool, schema: str) -> str:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as c:
        if create:
            c.execute(f"CREATE SCHEMA {schema}".encode())
        else:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


def audit_ids(url: str) -> list[str]:
    from cpragate.storage.audit_sink import SearchQuery, open_sink

    s = open_sink(url)
    try:
        return [json.loads(b)["id"] for b in s.search(SearchQuery(limit=10_000_000, newest_first=False))]
    finally:
        s.close()


def serve_gateway(config: str, state: Path) -> int:
    """`cpragate run` with SIGUSR1 taking tracemalloc snapshots (child process, --trace)."""
    import gc
    import tracemalloc

    from cpragate.cli.main import main as cli

    snaps: list[Any] = []
    types: list[dict[str, int]] = []

    def type_counts() -> dict[str, int]:
        got: dict[str, int] = {}
        for o in gc.get_objects():
            k = type(o).__qualname__
            got[k] = got.get(k, 0) + 1
        return got

    def snap(*_: Any) -> None:
        gc.collect()
        snaps.append(tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]))
        types.append(type_counts())
        if len(snaps) >= 2:
            print("tracemalloc: top growth between the two snapshots", flush=True)
            for stat in snaps[-1].compare_to(snaps[0], "traceback")[:12]:
                print(f"  {stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks", flush=True)
                for line in stat.traceback.format()[-16:]:
                    print("    " + line, flush=True)
            grew = sorted(((n - types[0].get(k, 0), k) for k, n in types[-1].items()), reverse=True)[:15]
            print("gc-tracked objects: top growth by type " + ", ".join(f"{k} {d:+d}" for d, k in grew), flush=True)
            print("end of tracemalloc diff", flush=True)

    def probe(*_: Any) -> None:
        import ctypes
        import ssl as _ssl

        gc.collect()
        objs = gc.get_objects()
        big: list[tuple[int, str]] = []
        for o in objs:
            if isinstance(o, (dict, set, list, deque)) and len(o) >= 500:
                owner = next((type(r).__qualname__ for r in gc.get_referrers(o) if r is not objs and not isinstance(r, (list, type(sys._getframe())))), "?")
                big.append((len(o), f"{type(o).__qualname__}<-{owner}"))
        counts: dict[str, int] = {}
        for o in objs:
            k = type(o).__qualname__
            counts[k] = counts.get(k, 0) + 1
        types.append(counts)
        first = types[min(1, len(types) - 1)]  # the second probe: after warm-up
        grew = sorted(((n - first.get(k, 0), k) for k, n in counts.items()), reverse=True)[:6]
        got: dict[str, Any] = {
            "objects": len(objs),
            "grew_since_2nd_probe": [f"{k} {d:+d}" for d, k in grew if d > 0],
            "blocks": sys.getallocatedblocks(),
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": len(__import__("threading").enumerate()),
            "ssl_sessions": [c.session_stats()["number"] for c in objs if isinstance(c, _ssl.SSLContext)],
            "big": sorted(big, reverse=True)[:8],
        }
        try:
            class MallInfo2(ctypes.Structure):
                _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = MallInfo2
            mi = libc.mallinfo2()
            got["malloc_used_kib"] = mi.uordblks // 1024
            got["malloc_free_kib"] = mi.fordblks // 1024
            got["malloc_mmap_kib"] = mi.hblkhd // 1024
            got["malloc_heap_kib"] = mi.arena // 1024
        except (OSError, AttributeError):
            pass
        from cpragate.server import memory

        got["allocator"] = memory.stats()
        print("probe: " + json.dumps(got), flush=True)

    from collections import deque

    signal.signal(signal.SIGUSR1, snap)
    signal.signal(signal.SIGUSR2, probe)
    return cli(["run", "-c", config])


def run(duration: float, connections: int, quick: bool, keep: bool, trace: bool = False, probe: bool = False) -> dict[str, Any]:
    from cpragate.demo.certs import ensure_dev_pki

    tmp = Path(tempfile.mkdtemp(prefix="cpragate-soak-"))
    state = tmp / "state"
    state.mkdir()
    pki = ensure_dev_pki(state)
    schema = f"cpragate_soak_{os.getpid()}"
    try:
        sink = pg_schema(True, schema)
    except Exception as e:
        raise SystemExit(f"PostgreSQL at {PG_BASE} is not usable ({type(e).__name__}); start it (scripts/test does) or set CPRAGATE_SOAK_PG") from None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api_port, gw_port = free_port(), free_port()
        api_log = tmp / "api.log"
        with api_log.open("wb") as fh:
            api = subprocess.Popen([sys.executable, __file__, "--serve-api", str(api_port), "--state", str(state)], stdout=fh, stderr=subprocess.STDOUT)
        procs.append(api)
        wait_port(api_port, api, api_log)
        demo = files("cpragate.demo")
        policy = (demo / "policy.yaml").read_text(encoding="utf-8").replace("sink: sqlite:///{state_dir}/audit.db", f'sink: "{sink}"')
        assert sink in policy, "the demo policy's audit sink line changed: update bench/soak.py"
        (tmp / "soak.yaml").write_text(policy)
        shutil.copy(str(demo / "demo-openapi.yaml"), tmp / "demo-openapi.yaml")
        env = {
            **os.environ,
            "CPRAGATE_DEMO_STATE": str(state),
            "CPRAGATE_DEMO_BIND": f"127.0.0.1:{gw_port}",
            "CPRAGATE_DEMO_UPSTREAM": f"https://127.0.0.1:{api_port}",
            "CPRAGATE_DEMO_ADMIN_BIND": "127.0.0.1:0",
        }
        made = subprocess.run(
            [sys.executable, "-m", "cpragate", "keys", "create", "-c", str(tmp / "soak.yaml"), "--consumer", "mallory",
             "--purpose", "service_provider", "--consumer-scopes", "customers:read,orders:read,tickets:write", "--attr", "tenants=t2"],
            capture_output=True, text=True, cwd=tmp, env=env, timeout=120, check=False,
        )
        if made.returncode != 0:
            raise SystemExit(f"could not create the attacker's key: {made.stderr.strip()[-500:]}")
        mallory = made.stdout.split()[0]
        gw_log = tmp / "gateway.log"
        with gw_log.open("wb") as fh:
            cmd = [sys.executable, "-m", "cpragate", "run", "-c", str(tmp / "soak.yaml")]
            if trace or probe:
                cmd = [sys.executable, *(["-X", "tracemalloc=24"] if trace else []), str(Path(__file__).resolve()), "--serve-gateway", str(tmp / "soak.yaml"), "--state", str(tmp)]
            gw = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp, env=env)
        procs.append(gw)
        wait_port(gw_port, gw, gw_log, timeout=180 if trace else 30)
        ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))

        st = Stats()
        warmup = 5.0 if quick else min(60.0, duration * 0.25)
        samples: list[tuple[float, tuple[int, int]]] = []

        async def drive() -> None:
            t0 = time.monotonic()
            deadline = t0 + duration
            rng = random.Random(42)
            tasks = [asyncio.create_task(worker(i, gw_port, ctx, deadline, st, random.Random(rng.random()), mallory)) for i in range(connections)]
            snapped = False
            while time.monotonic() < deadline:
                if trace and not snapped and time.monotonic() - t0 >= warmup:
                    gw.send_signal(signal.SIGUSR1)  # first tracemalloc snapshot, after warm-up
                    snapped = True
                samples.append((time.monotonic() - t0, rss_kib(gw.pid)))
                if probe and len(samples) % 6 == 1:
                    gw.send_signal(signal.SIGUSR2)  # the gateway prints its own counters to its log
                await asyncio.sleep(1.0 if quick else 5.0)
            await asyncio.gather(*tasks)
            samples.append((time.monotonic() - t0, rss_kib(gw.pid)))

        t_start = time.monotonic()
        asyncio.run(drive())
        elapsed = time.monotonic() - t_start
        if trace:
            gw.send_signal(signal.SIGUSR1)  # second snapshot: the diff goes to the gateway's log
            waited = time.monotonic() + 300
            while "end of tracemalloc diff" not in gw_log.read_text(errors="replace") and time.monotonic() < waited:
                time.sleep(1)
            text = gw_log.read_text(errors="replace")
            print(text[text.find("tracemalloc: top growth"):], file=sys.stderr)
        if probe:
            lines = [ln for ln in gw_log.read_text(errors="replace").splitlines() if ln.startswith("probe: ")]
            print("\n".join(lines), file=sys.stderr)
        gw.send_signal(signal.SIGTERM)  # drain; the writer ships what is spooled before exit
        gw.wait(60)
        events = audit_ids(sink)
        # Mean of a window right after warm-up against the mean of the last 10 % of the run:
        # single samples would compare two points of the spool's saw-tooth.
        after = [r for t, r in samples if t >= warmup]
        win = max(1, len(after) // 10)

        def window(rows: list[tuple[int, int]], i: int) -> tuple[float, float]:
            return sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)

        base_rss, base_anon = window(after[:win] or [samples[0][1]], 0)
        end_rss, end_anon = window(after[-win:] or [samples[-1][1]], 0)
        growth = (end_anon - base_anon) / base_anon * 100 if base_anon else 0.0
        growth_rss = (end_rss - base_rss) / base_rss * 100 if base_rss else 0.0
        step = max(1, len(samples) // 30)
        series = [(round(t), r[0], r[1]) for t, r in samples[::step]]
        counts: dict[str, int] = {}
        for i in events:
            counts[i] = counts.get(i, 0) + 1
        missing = [i for i in st.expected_ids if i not in counts]
        dupes = [i for i, n in counts.items() if n > 1]
        expected = set(st.expected_ids)
        extra = [i for i in counts if i not in expected]
        missing_kinds: dict[str, int] = {}
        for i in missing:
            k = st.what.get(i, "no answer")
            missing_kinds[k] = missing_kinds.get(k, 0) + 1
        checks = {
            "heap_rss_growth_under_10pct": None if quick else growth < 10.0,
            "no_gateway_5xx": st.gateway_5xx == 0,
            "audit_events_equal_requests": not missing and not dupes and not extra and len(events) == len(st.expected_ids),
        }
        return {
            "duration_s": round(elapsed, 1),
            "connections": connections,
            "requests": st.sent,
            "req_per_s": round(st.sent / elapsed, 1),
            "framing_vectors": st.framing_sent,
            "framing_refused_400": st.framing_refused,
            "client_errors": st.errors,
            "statuses": dict(sorted(st.by_status.items())),
            "unexpected": st.unexpected,
            "gateway_codes": dict(sorted(st.codes.items())),
            "blocked_by_detection": st.blocked,
            "gateway_5xx": st.gateway_5xx,
            "other_5xx": st.other_5xx,
            "rss_kib_start": samples[0][1][0],
            "rss_kib_after_warmup": round(base_rss),
            "rss_kib_end": round(end_rss),
            "rss_kib_peak": max(r[0] for _, r in samples),
            "rss_growth_pct": round(growth_rss, 2),
            "anon_kib_after_warmup": round(base_anon),
            "anon_kib_end": round(end_anon),
            "anon_growth_pct": round(growth, 2),
            "rss_series_t_rss_anon": series,
            "warmup_s": warmup,
            "audited_requests": len(st.expected_ids),
            "not_audited": st.not_audited,
            "audit_events": len(events),
            "audit_missing": len(missing),
            "audit_duplicates": len(dupes),
            "audit_missing_by_request": missing_kinds,
            "checks": checks,
            "gateway_log_lines": sum(1 for _ in gw_log.open("rb")),
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not keep:
            try:
                pg_schema(False, schema)
            except Exception as e:
                print(f"could not drop schema {schema}: {type(e).__name__}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp} and schema {schema}", file=sys.stderr)


def record(result: dict[str, Any], argv: list[str]) -> None:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    c = result["checks"]

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("pass" if ok else "FAIL")

    lines = [
        "",
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — commit {rev}{' (+ uncommitted changes)' if dirty else ''}",
        "",
        f"Command: `.venv/bin/python bench/soak.py {' '.join(argv)}` on {os.cpu_count()} shared cores.",
        "",
        "| measure | value | target | verdict |",
        "|---|---|---|---|",
        f"| duration, connections | {result['duration_s']} s, {result['connections']} TLS | 600 s default | |",
        f"| requests (req/s) | {result['requests']} ({result['req_per_s']}) | | |",
        f"| heap RSS (RssAnon) after warm-up ({result['warmup_s']:.0f} s) → end | {result['anon_kib_after_warmup']} → {result['anon_kib_end']} KiB | growth < 10 % | {result['anon_growth_pct']} %, {verdict(c['heap_rss_growth_under_10pct'])} |",
        f"| total RSS after warm-up → end (peak) | {result['rss_kib_after_warmup']} → {result['rss_kib_end']} KiB ({result['rss_kib_peak']}) | reported | {result['rss_growth_pct']} % (includes the spool's mapped segments) |",
        f"| 5xx made by the gateway | {result['gateway_5xx']} (other 5xx: {result['other_5xx']}) | 0 | {verdict(c['no_gateway_5xx'])} |",
        f"| audit events vs requests served on audited routes | {result['audit_events']} vs {result['audited_requests']} (missing {result['audit_missing']}, duplicated {result['audit_duplicates']}) | equal | {verdict(c['audit_events_equal_requests'])} |",
        f"| not audited by design | {result['not_audited']} (/health passthrough; 431 heads refused by the parser) | | |",
        f"| malformed framing (CL+TE) refused 400 | {result['framing_refused_400']} of {result['framing_vectors']} | all | |",
        "",
        f"Statuses: {result['statuses']}. Gateway problem codes: {result['gateway_codes']}. "
        f"Hostile calls stopped by the anomaly filter or a limit (403/429, expected): {result['blocked_by_detection']}. "
        f"Other unexpected statuses: {result['unexpected'] or 'none'}.",
        "",
        f"RSS series (s, VmRSS KiB, RssAnon KiB): {result['rss_series_t_rss_anon']}",
    ]
    path = ROOT / "bench" / "SOAK_RESULTS.md"
    if not path.exists():
        path.write_text(
            "# Soak results\n\nWritten by `bench/soak.py --record` (see its docstring for the traffic mix and checks).\n"
        )
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description="Soak the demo policy with mixed legitimate and hostile traffic (audit on PostgreSQL).")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    ap.add_argument("--connections", type=int, default=8, help="concurrent client connections (default 8)")
    ap.add_argument("--quick", action="store_true", help="a ~15 s run: checks 5xx and audit, not memory growth")
    ap.add_argument("--record", action="store_true", help="append the result to bench/SOAK_RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs) and the PostgreSQL schema")
    ap.add_argument("--trace", action="store_true", help="run the gateway under tracemalloc and print where its heap grew after warm-up")
    ap.add_argument("--probe", action="store_true", help="every 30 s the gateway prints its object/malloc/fd counters and largest containers (no tracemalloc)")
    ap.add_argument("--serve-api", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-gateway", help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_api:
        serve_api(args.serve_api, args.state)
        return 0
    if args.serve_gateway:
        return serve_gateway(args.serve_gateway, args.state)
    duration = 15.0 if args.quick and args.duration == 600.0 else args.duration
    connections = min(args.connections, 4) if args.quick else args.connections
    result = run(duration, connections, args.quick, args.keep, args.trace, args.probe)
    print(json.dumps(result, indent=2))
    if args.record:
        record(result, sys.argv[1:])
    failed = [k for k, ok in result["checks"].items() if ok is False]
    if failed:
        print(f"soak FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("soak passed" + (" (memory growth not judged in --quick)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
