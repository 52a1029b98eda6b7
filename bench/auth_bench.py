"""Identity benchmark: what authentication and rate limiting cost the gateway per request.

    .venv/bin/python bench/auth_bench.py            # full run, writes bench/AUTH_RESULTS.md
    .venv/bin/python bench/auth_bench.py --quick    # a few seconds per row, prints only (CI)

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


ROWS = ["passthrough", "api_key", "api_key+rl_mem", "jwt", "jwt+rl_mem", "jwt+rl_redis"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per row, print only")
    ap.add_argument("--seconds", type=int, default=8)
    a = ap.parse_args()
    seconds = 2 if a.quick else a.seconds
    if shutil.which("wrk") is None:
        print("auth bench: wrk is not installed (scripts/test installs it); skipped")
        return 0 if os.environ.get("CI") != "true" else 1
    two = (os.cpu_count() or 1) >= 2
    gw_core, load_core = ("0", "1") if two else (None, None)
    key, prefix = generate_key()
    rsa_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwk = dict(rsa_key.as_dict(private=False))
    jwk["kid"] = "bench"
    claims = {"iss": "https://idp.bench", "aud": "bench", "sub": "bench-app", "scope": "items:read", "exp": int(time.time()) + 86400}
    token = jws.serialize_compact({"alg": "RS256", "kid": "bench"}, json.dumps(claims).encode(), rsa_key)
    tmp = Path(tempfile.mkdtemp(prefix="cpragate-auth-bench-"))
    oport = free_port()
    olog = tmp / "origin.log"
    origin = subprocess.Popen([*pin(load_core), sys.executable, "-c", ORIGIN, str(oport)], stdout=olog.open("wb"), stderr=subprocess.STDOUT)
    results: list[dict[str, object]] = []
    try:
        wait_port(oport, origin, olog)
        for row in ROWS:
            if "redis" in row:
                try:
                    socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
                except OSError:
                    if os.environ.get("CI") == "true":
                        raise
                    print(f"{row}: Redis not answering on 127.0.0.1:6379, skipped")
                    continue
            port = free_port()
            cfgp = tmp / f"{row}.yaml"
            ns = f"bench-{uuid.uuid4().hex[:8]}"
            cfgp.write_text(config(port, oport, row, prefix, hash_key(key.encode()), jwk, ns))
            log = tmp / f"{row}.log"
            gw = subprocess.Popen([*pin(gw_core), sys.executable, "-m", "cpragate", "run", "-c", str(cfgp)],
                                  stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=tmp)
            try:
                wait_port(port, gw, log)
                hdrs = [f"x-api-key: {key}"] if row.startswith("api_key") else [f"authorization: Bearer {token}"] if row.startswith("jwt") else []
                url = f"http://127.0.0.1:{port}/v1/items"
                wrk(url, hdrs, 1, load_core)  # warm-up (JIT-free, but caches and pools)
                c0 = cpu_seconds(gw.pid)
                reqs, rps, bad = wrk(url, hdrs, seconds, load_core)
                cpu = cpu_seconds(gw.pid) - c0
                if bad:
                    raise RuntimeError(f"{row}: {bad} responses were not 2xx")
                results.append({"row": row, "requests": reqs, "rps": rps, "cpu_us": cpu / reqs * 1e6})
                print(f"{row:<16} {rps:>9.0f} req/s  {cpu / reqs * 1e6:6.1f} CPU-µs/req", flush=True)
            finally:
                gw.terminate()
                gw.wait(20)
    finally:
        origin.terminate()
        origin.wait(10)
    base = next((r for r in results if r["row"] == "passthrough"), None)
    lines = ["| row | req/s | gateway CPU-µs/request | over passthrough |", "|---|---:|---:|---:|"]
    for r in results:
        over = float(r["cpu_us"]) - float(base["cpu_us"]) if base else float("nan")  # type: ignore[arg-type]
        lines.append(f"| {r['row']} | {float(r['rps']):,.0f} | {float(r['cpu_us']):.1f} | {over:+.1f} |")  # type: ignore[arg-type]
    table = "\n".join(lines)
    print(table)
    if a.quick:
        return 0
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    md = f"""# Identity benchmark (bench/auth_bench.py)

What authentication, authorization and rate limiting add to the gateway's CPU per request.
Method: see the docstring of `bench/auth_bench.py` (wrk 1 thread × 16 connections, plain
HTTP on loopback, gateway pinned to core 0, wrk and origin on core 1, 1 KB answers,
{seconds} s per row after a 1 s warm-up; CPU from /proc/<pid>/stat of the gateway only).

Targets (issue 3), over passthrough: API key or cached JWT + in-memory rate limit ≤ 6 µs;
with the Redis rate limit ≤ 20 µs (Redis's own CPU not counted).

- commit: `{rev}`
- date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}
- command: `.venv/bin/python bench/auth_bench.py --seconds {seconds}`

{table}
"""
    (ROOT / "bench" / "AUTH_RESULTS.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
