"""Identity benchmark: what authentication and rate limiting cost the gateway per request.

    .venv/bin/python bench/auth_bench.py            # full run, writes bench/AUTH_RESULTS.md
    .venv/bin/python bench/auth_bench.py --quick    # a few seconds per row, prints only (CI)
    .venv/bin/python bench/auth_bench.py --baseline REV --rounds 3 --micro
        # before/after in one run: the gateway of commit REV (``git archive`` into a temp
        # dir, run with PYTHONPATH) and of the working tree alternate row by row, each row
        # `rounds` times; the best (lowest CPU) of the rounds counts. ``--micro`` adds the
        # in-process measurement (no sockets: the route's pipeline stepped as the data plane
        # does, 16 concurrent requests, Redis rows against the real server).

Rows, same run, same origin, plain HTTP on loopback, 1 KB JSON answers:
  passthrough        a route with no filters
  api_key            API key (declared key, HMAC-SHA256 per request) + authz scope rule
  api_key+rl_mem     the same + per-consumer GCRA in this process
  jwt                bearer JWT RS256 (verified once, then from the token-hash cache) + authz
  jwt+rl_mem         the same + per-consumer GCRA in this process
  jwt+rl_redis       the same with the limit in Redis (127.0.0.1:6379; one Lua call per request)

The gateway runs as `cpragate run` pinned to core 0 (with >= 2 cores); wrk (1 thread, 16
connections) and the origin share core 1. CPU-µs/request = the gateway's utime+stime
from /proc/<pid>/stat over the wrk run / requests wrk completed. Redis's own CPU is not
counted (the issue's target excludes it). Every request of every row must answer 200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from joserfc import jws  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

from cpragate.filters.authn.apikeys import generate_key, hash_key  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ORIGIN = r"""
import asyncio, sys
import uvloop
from cpragate.server.origin import OriginServer, OriginResponse
BODY = b'{"items": [' + b",".join(b'{"id": %d, "name": "customer number %d", "tier": "gold"}' % (i, i) for i in range(18)) + b"]}"
async def main():
    o = await OriginServer(lambda r: OriginResponse(200, [(b"content-type", b"application/json")], BODY)).start("127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
uvloop.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened:\n{log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def pin(core: str | None) -> list[str]:
    return ["taskset", "-c", core] if core is not None and shutil.which("taskset") else []


def wrk(url: str, headers: list[str], seconds: int, core: str | None) -> tuple[int, float, int]:
    argv = [*pin(core), "wrk", "-t1", "-c16", f"-d{seconds}s", *(x for h in headers for x in ("-H", h)), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return reqs, rps, int(m.group(1)) if m else 0


def config(port: int, origin: int, row: str, key_prefix: str, key_hash: str, jwk: dict[str, object], redis_ns: str) -> str:
    auth = "rl" in row or row != "passthrough"
    filters = "[]" if not auth else "[authn, authz, ratelimit]"
    lines = [
        f'listeners: [{{bind: "127.0.0.1:{port}"}}]',
        f'upstreams: {{o: {{url: "http://127.0.0.1:{origin}", allow_plaintext: true}}}}',
        "routes:",
        f"  - {{path: /v1/items, upstream: o, filters: {filters}, authz: {{scopes: [items:read]}}}}",
        "storage: {url: 'memory://'" + (f", redis: 'redis://127.0.0.1:6379/0?prefix={redis_ns}'" if "redis" in row else "") + "}",
        "logging: {level: warning}",
    ]
    if auth:
        lines += [
            "filters:",
            "  authn:",
            "    consumers: [{name: bench-app, purpose: service_provider, scopes: [items:read]}]",
            f"    api_keys: {{keys: [{{consumer: bench-app, prefix: {key_prefix}, hash: {key_hash}}}]}}",
            f"    jwt: {{issuer: 'https://idp.bench', audience: [bench], jwks: [{json.dumps(jwk)}]}}",
        ]
        if "rl" in row:
            lines.append("  ratelimit: {per_consumer: {rate: 1000000000, per: 1}}")
    return "\n".join(lines) + "\n"


MICRO = r'''
import asyncio, json, sys, time
import uvloop
from cpragate.config import load_config_text
from cpragate.core.exchange import Exchange
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.verdict import CONTINUE
from cpragate.server.eager import run_eager
from cpragate.server.gateway import Runtime
from cpragate.storage.base import open_stores

spec = json.loads(sys.argv[1])
REQ = [(b"host", b"api"), (b"accept", b"*/*"), (b"user-agent", b"wrk")]
RESP = [(b"content-type", b"application/json"), (b"content-length", b"1024")]


async def main():
    out = {}
    loop = asyncio.get_running_loop()
    for row, cfg_text, hdr in spec["rows"]:
        cfg = load_config_text(cfg_text, "bench.yaml")
        stores = await open_stores("memory://", redis_url=cfg.storage.redis)
        rt = Runtime(cfg, loop, stores=stores)
        route = rt.routes[0]
        pipe = route.pipeline
        fast = hasattr(pipe, "request_now")
        h = [tuple(x.encode() for x in hdr)] if hdr else []

        def start(done):
            req = Request("GET", b"/v1/items", "/v1/items", b"", Headers._from_lowered(REQ + h), b"")
            ex = Exchange(req, "r1", route=route)

            def after_req(v, e):
                assert e is None and v is CONTINUE, (v, e)
                ex.response = Response(200, Headers._from_lowered(list(RESP)), b"")
                rv = pipe.response_now(ex) if fast else None
                if rv is not None:
                    done(rv, None)
                else:
                    run_eager(pipe.run_response(ex), done, loop)
            # as server/http1.py does: the filters' fast paths first (a tree from before
            # Pipeline.request_now always awaited the whole phase)
            v = pipe.request_now(ex) if fast else None
            if v is not None:
                after_req(v, None)
            else:
                run_eager(pipe.run_request(ex, True) if fast else pipe.run_request(ex), after_req, loop)

        async def client(n):
            for _ in range(n):
                fut = loop.create_future()
                # from a loop callback, as the data plane's protocol callbacks run (outside
                # any Task: a phase suspended on Redis then resumes without one, server/eager.py)
                loop.call_soon(start, lambda v, e: fut.set_result(v))
                await fut

        n, conc = spec["n"], 16
        await asyncio.gather(*(client(n // 10 // conc) for _ in range(conc)))  # warm-up
        best = float("inf")
        for _ in range(spec["repeats"]):
            t0 = time.process_time()
            await asyncio.gather(*(client(n // conc) for _ in range(conc)))
            best = min(best, (time.process_time() - t0) / (n // conc * conc) * 1e6)
        out[row] = best
        await stores.close()
    print(json.dumps(out))

uvloop.run(main())
'''


ROWS = ["passthrough", "api_key", "api_key+rl_mem", "jwt", "jwt+rl_mem", "jwt+rl_redis"]


def run_row(row: str, src: Path, tmp: Path, oport: int, cfg_args: tuple[str, str, dict[str, object]],
            hdrs: list[str], seconds: int, cores: tuple[str | None, str | None]) -> dict[str, float]:
    gw_core, load_core = cores
    port = free_port()
    cfgp = tmp / f"{row}.yaml"
    cfgp.write_text(config(port, oport, row, *cfg_args, f"bench-{uuid.uuid4().hex[:8]}"))
    log = tmp / f"{row}.log"
    env = {**os.environ, "PYTHONPATH": str(src)}
    gw = subprocess.Popen([*pin(gw_core), sys.executable, "-m", "cpragate", "run", "-c", str(cfgp)],
                          stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=tmp, env=env)
    try:
        wait_port(port, gw, log)
        url = f"http://127.0.0.1:{port}/v1/items"
        wrk(url, hdrs, 1, load_core)  # warm-up (caches and pools)
        c0 = cpu_seconds(gw.pid)
        reqs, rps, bad = wrk(url, hdrs, seconds, load_core)
        cpu = cpu_seconds(gw.pid) - c0
        if bad:
            raise RuntimeError(f"{row}: {bad} responses were not 2xx")
        return {"rps": rps, "cpu_us": cpu / reqs * 1e6}
    finally:
        gw.terminate()
        gw.wait(20)


def micro(src: Path, rows: list[str], cfg_args: tuple[str, str, dict[str, object]], headers: dict[str, list[str]],
          n: int, repeats: int, core: str | None) -> dict[str, float]:
    spec = {"n": n, "repeats": repeats, "rows": [
        [r, config(1, 1, r, *cfg_args, f"bench-{uuid.uuid4().hex[:8]}"), headers[r][0].split(": ", 1) if headers[r] else None]
        for r in rows
    ]}
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([*pin(core), sys.executable, "-c", MICRO, json.dumps(spec)], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"micro bench failed:\n{out.stderr[-3000:]}")
    return {k: float(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def table(results: dict[str, dict[str, dict[str, float]]], variants: list[str], rows: list[str], rps: bool) -> str:
    """One line per row; per variant CPU-µs and over passthrough; ratio before/after of the overhead."""
    head = "| row |" + "".join(f" {v} req/s | {v} CPU-µs/req | {v} over passthrough |" if rps else
                                 f" {v} CPU-µs/req | {v} over passthrough |" for v in variants)
    cols = (3 if rps else 2) * len(variants)
    if len(variants) == 2:
        head += " overhead before/after |"
        cols += 1
    lines = [head, "|---|" + "---:|" * cols]
    for row in rows:
        if not all(row in results[v] for v in variants):
            continue
        cells, over = [], []
        for v in variants:
            r, base = results[v][row], results[v].get("passthrough")
            o = r["cpu_us"] - base["cpu_us"] if base else float("nan")
            over.append(o)
            cells += ([f"{r['rps']:,.0f}"] if rps else []) + [f"{r['cpu_us']:.1f}", f"{o:+.1f}"]
        if len(variants) == 2:
            cells.append(f"{over[0] / over[1]:.1f}×" if row != "passthrough" and over[1] > 0 else "")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per row, print only")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--baseline", metavar="REV", help="also run the gateway of commit REV (or of a src/ folder), alternating with this tree")
    ap.add_argument("--rounds", type=int, default=1, help="runs per row and variant; the best counts")
    ap.add_argument("--micro", action="store_true", help="add the in-process (no sockets) measurement")
    ap.add_argument("--no-wrk", action="store_true", help="only the in-process measurement")
    ap.add_argument("--no-write", action="store_true", help="print the tables, leave bench/AUTH_RESULTS.md alone")
    a = ap.parse_args()
    seconds = 2 if a.quick else a.seconds
    if shutil.which("wrk") is None and not a.no_wrk:
        print("auth bench: wrk is not installed (scripts/test installs it); skipped")
        return 0 if os.environ.get("CI") != "true" else 1
    two = (os.cpu_count() or 1) >= 2
    cores = ("0", "1") if two else (None, None)
    key, prefix = generate_key()
    rsa_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwk: dict[str, object] = dict(rsa_key.as_dict(private=False))
    jwk["kid"] = "bench"
    claims = {"iss": "https://idp.bench", "aud": "bench", "sub": "bench-app", "scope": "items:read", "exp": int(time.time()) + 86400}
    token = jws.serialize_compact({"alg": "RS256", "kid": "bench"}, json.dumps(claims).encode(), rsa_key)
    cfg_args = (prefix, hash_key(key.encode()), jwk)
    headers = {r: [f"x-api-key: {key}"] if r.startswith("api_key") else [f"authorization: Bearer {token}"]
               if r.startswith("jwt") else [] for r in ROWS}
    tmp = Path(tempfile.mkdtemp(prefix="cpragate-auth-bench-"))
    variants: dict[str, Path] = {"now": ROOT / "src"}
    if a.baseline and Path(a.baseline).is_dir():  # a src/ folder (e.g. the tree with one change undone)
        variants = {"before": Path(a.baseline).resolve(), "after": ROOT / "src"}
    elif a.baseline:
        base = tmp / "baseline"
        base.mkdir()
        arch = subprocess.run(["git", "archive", a.baseline, "src"], capture_output=True, cwd=ROOT, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=arch, check=True)
        variants = {"before": base / "src", "after": ROOT / "src"}
    rows = list(ROWS)
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if os.environ.get("CI") == "true":
            raise
        print("Redis not answering on 127.0.0.1:6379: Redis rows skipped")
        rows = [r for r in rows if "redis" not in r]
    results: dict[str, dict[str, dict[str, float]]] = {v: {} for v in variants}
    if not a.no_wrk:
        oport = free_port()
        olog = tmp / "origin.log"
        origin = subprocess.Popen([*pin(cores[1]), sys.executable, "-c", ORIGIN, str(oport)],
                                  stdout=olog.open("wb"), stderr=subprocess.STDOUT)
        try:
            wait_port(oport, origin, olog)
            for row in rows:
                for _ in range(a.rounds):
                    for v, src in variants.items():
                        r = run_row(row, src, tmp, oport, cfg_args, headers[row], seconds, cores)
                        best = results[v].get(row)
                        if best is None or r["cpu_us"] < best["cpu_us"]:
                            results[v][row] = r
                        print(f"{v:<7}{row:<16} {r['rps']:>9.0f} req/s  {r['cpu_us']:6.1f} CPU-µs/req", flush=True)
        finally:
            origin.terminate()
            origin.wait(10)
    micro_results: dict[str, dict[str, dict[str, float]]] = {v: {} for v in variants}
    if a.micro or a.no_wrk:
        n = 4000 if a.quick else 20000
        for _ in range(a.rounds):
            for v, src in variants.items():
                got = micro(src, rows, cfg_args, headers, n, 2 if a.quick else 5, cores[0])
                print(f"{v:<7}micro " + "  ".join(f"{k} {x:.1f}" for k, x in got.items()), flush=True)
                for k, x in got.items():
                    if k not in micro_results[v] or x < micro_results[v][k]["cpu_us"]:
                        micro_results[v][k] = {"cpu_us": x}
    names = list(variants)
    out = []
    if not a.no_wrk:
        out.append("End to end (wrk through the gateway process):\n\n" + table(results, names, rows, True))
    if a.micro or a.no_wrk:
        out.append("In process (no sockets; the route's pipeline only):\n\n" + table(micro_results, names, rows, False))
    text = "\n\n".join(out)
    print(text)
    if a.quick or a.no_write:
        return 0
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    cmd = " ".join(["bench/auth_bench.py", *sys.argv[1:]])
    section = f"""## Latest run (written by bench/auth_bench.py)

- commit: `{rev}`{f" (before: `{a.baseline}`)" if a.baseline else ""}
- date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}
- command: `.venv/bin/python {cmd}` ({seconds} s per row after a 1 s warm-up, best of {a.rounds})

{text}

"""
    write_latest(ROOT / "bench" / "AUTH_RESULTS.md", section)
    return 0


HEADER = """# Identity benchmark (bench/auth_bench.py)

What authentication, authorization and rate limiting add to the gateway's CPU per request.
Method: see the docstring of `bench/auth_bench.py` (wrk 1 thread × 16 connections, plain
HTTP on loopback, gateway pinned to core 0, wrk and origin on core 1, 1 KB answers;
CPU from /proc/<pid>/stat of the gateway only).

Targets (issue 3), over passthrough: API key or cached JWT + in-memory rate limit ≤ 6 µs;
with the Redis rate limit ≤ 20 µs (Redis's own CPU not counted).

"""


def write_latest(path: Path, section: str) -> None:
    """Replace the file's "Latest run" section (or add it before the first one), keeping
    the rounds written by hand below it."""
    old = path.read_text() if path.exists() else HEADER
    marker = "## Latest run (written by bench/auth_bench.py)"
    if marker in old:
        head, _, rest = old.partition(marker)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
    else:
        at = old.find("\n## ")
        head, tail = (old[: at + 1], old[at + 1 :]) if at >= 0 else (old, "")
    path.write_text(head + section + tail)


if __name__ == "__main__":
    raise SystemExit(main())
