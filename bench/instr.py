"""Instructions per request through the whole data plane, counted by callgrind.

Wall-clock and CPU-time figures on this 2-core machine move by 10-30 % with whatever else
runs; instruction counts do not (the same total twice, with the other core loaded). This
drives the real ClientConnection / Cycle / pipeline / UpstreamConnection code with fake
transports (no sockets, no kernel): the client's request bytes go in through
``data_received``, the upstream's canned 1 KB answer comes back through the upstream
connection's ``data_received`` on the next loop turn, as on a real socket.

    .venv/bin/python bench/instr.py                       # all rows, instructions/request
    .venv/bin/python bench/instr.py --rows passthrough --n 3000
    .venv/bin/python bench/instr.py --pure-baseline       # compiled (build/accel) vs source
    .venv/bin/python bench/instr.py --inner ROW N         # (used by itself under valgrind)

Each row runs twice under ``valgrind --tool=callgrind`` (N and 2N requests); the
difference divided by N is the per-request count, so start-up and import cost cancel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# INSTR_SRC: measure another tree's src/ (a before/after pair in one run)
sys.path.insert(0, os.environ.get("INSTR_SRC") or str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import thread_cpu  # noqa: E402  (bench/harness.py)

BODY = b'{"items": [' + b",".join(
    b'{"id": %d, "name": "customer number %d", "tier": "gold"}' % (i, i) for i in range(18)
) + b"]}"
RESP = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)

KEY = "cpg_bench234_" + "k" * 43
KEY_PREFIX = "cpg_bench234"

BASE = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "http://127.0.0.1:9", allow_plaintext: true}}
storage: {url: "memory://"}
"""

JWT_ROUTE = """
routes:
  - {path: /v1/items, upstream: o, filters: [authn, authz, ratelimit], authz: {scopes: [items:read]}}
filters:
  authn:
    consumers: [{name: bench-app, purpose: service_provider, scopes: [items:read]}]
    jwt: {issuer: 'https://idp.bench', audience: [bench], jwks: [%JWK%]}
  ratelimit: {per_consumer: {rate: 1000000000, per: 1}}
"""


def jwt_material() -> tuple[str, str]:
    """(public JWK as JSON, RS256 token), made once by the outer run and handed to both
    inner runs through the environment (an RSA key generation varies by millions of
    instructions and would not cancel between the N and 2N runs)."""
    if os.environ.get("INSTR_JWK"):
        return os.environ["INSTR_JWK"], os.environ["INSTR_TOKEN"]
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from joserfc import jws
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwk = {**key.as_dict(private=False), "kid": "bench"}
    claims = {"iss": "https://idp.bench", "aud": "bench", "sub": "bench-app", "scope": "items:read",
              "exp": int(time.time()) + 86400 * 30}
    token = jws.serialize_compact({"alg": "RS256", "kid": "bench"}, json.dumps(claims).encode(), key)
    os.environ["INSTR_JWK"], os.environ["INSTR_TOKEN"] = json.dumps(jwk), token
    return os.environ["INSTR_JWK"], token


ROWS: dict[str, tuple[str, bytes]] = {
    "passthrough": (
        "routes: [{path: /v1/items, upstream: o, filters: []}]\n",
        b"",
    ),
    "default_filters": (
        "routes: [{path: /v1/items, upstream: o}]\n",
        b"",
    ),
    "api_key+rl_mem": (
        """
routes:
  - {path: /v1/items, upstream: o, filters: [authn, authz, ratelimit], authz: {scopes: [items:read]}}
filters:
  authn:
    consumers: [{name: bench-app, purpose: service_provider, scopes: [items:read]}]
    api_keys: {keys: [{consumer: bench-app, prefix: %PREFIX%, hash: %HASH%}]}
  ratelimit: {per_consumer: {rate: 1000000000, per: 1}}
""",
        b"x-api-key: " + KEY.encode() + b"\r\n",
    ),
    "passthrough_from_loop": (
        "routes: [{path: /v1/items, upstream: o, filters: []}]\n",
        b"",
    ),
    "jwt+rl_mem": (JWT_ROUTE, b"authorization: Bearer %TOKEN%\r\n"),
    # the limit in the real Redis at 127.0.0.1:6379 (its own CPU is not counted: another process)
    "jwt+rl_redis": (JWT_ROUTE + "%REDIS%", b"authorization: Bearer %TOKEN%\r\n"),
}
STORES = {"api_key+rl_mem", "jwt+rl_mem", "jwt+rl_redis"}
FROM_LOOP = {"jwt+rl_redis", "passthrough_from_loop"}
"""Rows whose request bytes arrive from a loop callback, as from a socket, not from inside
the driving Task: a phase that suspends (on Redis) is resumed Task-free only outside a
Task (server/eager.py). ``passthrough_from_loop`` is their passthrough (the extra loop
callback per request)."""
"""Rows run with the stores a deployment has (``open_stores``: a block store, so the rate
limiter checks blocks as it does under ``cpragate run``), not none at all."""


class ClientTransport:
    """What the gateway writes to its client is counted and dropped."""

    def __init__(self) -> None:
        self.responses = 0
        self.closed = False

    waiter: Any = None
    """A Future set when a response arrives (FROM_LOOP rows wait on it instead of spinning
    the loop: a reply from Redis takes real time, and spinning would count it)."""

    def write(self, d: bytes) -> None:
        got = d.count(b"HTTP/1.1 200")
        self.responses += got
        if got and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def writelines(self, parts: Any) -> None:
        for p in parts:
            self.write(p)

    def get_extra_info(self, k: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if k == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class UpstreamTransport(ClientTransport):
    """The upstream answers every request head with the canned response, next loop turn."""

    def __init__(self, proto: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.proto = proto
        self.loop = loop

    def write(self, d: bytes) -> None:
        self.loop.call_soon(self.proto.data_received, RESP)


def demo_setup(tmp: str) -> tuple[str, bytes, bytes]:
    """The demo policy (listener TLS removed, request rates raised as bench/run.sh runs
    it: harness.DEMO_RATES), its headers, and a demo-shaped 1 KB answer."""
    from harness import bench_rates, demo_headers, make_body, strip_listener_tls

    policy = ROOT / "examples" / "demo-policy.yaml"
    folder = Path(tmp) / "policy"
    import shutil

    shutil.copytree(policy.resolve().parent, folder)
    text = bench_rates(strip_listener_tls(policy.read_text()))
    state = Path(tmp) / "state"
    subprocess.run([sys.executable, "-m", "cpragate", "demo", "--prepare-only", "--state-dir", str(state)],
                   check=True, capture_output=True)
    os.environ.update({
        "CPRAGATE_DEMO_UPSTREAM": "http://127.0.0.1:9",
        "CPRAGATE_DEMO_UPSTREAM_PLAINTEXT": "true",
        "CPRAGATE_DEMO_BIND": "127.0.0.1:0",
        "CPRAGATE_DEMO_STATE": str(state),
    })
    (folder / policy.name).write_text(text)
    hdrs = b"".join(h.encode() + b"\r\n" for h in demo_headers(text))
    body = make_body(1024)
    resp = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    return str(folder / policy.name), hdrs, resp


def build_config(row: str) -> str:
    text = BASE + ROWS[row][0]
    if "%HASH%" in text:
        from cpragate.filters.authn.apikeys import hash_key

        text = text.replace("%HASH%", hash_key(KEY.encode())).replace("%PREFIX%", KEY_PREFIX)
    if "%JWK%" in text:
        text = text.replace("%JWK%", jwt_material()[0])
    if "%REDIS%" in text:
        text = text.replace("%REDIS%", "").replace(
            'storage: {url: "memory://"}', f'storage: {{url: "memory://", redis: "redis://127.0.0.1:6379/0?prefix=instr-{os.getpid()}"}}'
        )
    return text


async def drive(row: str, n: int, profiler: Any = None) -> float:
    from cpragate.config import load_config_text
    from cpragate.server.gateway import Gateway, ListenerRuntime
    from cpragate.server.http1 import ClientConnection
    from cpragate.server.upstream import UpstreamConnection

    global RESP
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        path, extra = "/v1/items", ROWS.get(row, ("", b""))[1]
        stores = None
        saved_logging: tuple[list[Any], int] | None = None
        if row == "demo":
            from cpragate.config import load_config
            from cpragate.server.gateway import open_default_stores

            policy, extra, RESP = demo_setup(tmp)
            # As `cpragate run` sets it up: the demo policy logs one access line per
            # request (batched to stderr, server/accesslog.py), part of what it costs live.
            import logging

            from cpragate.server.serve import setup_logging

            root = logging.getLogger()
            saved_logging = (root.handlers[:], root.level)  # put back after this row (--cpu runs rows in one process)
            setup_logging("info")
            cfg = load_config(policy)
            stores = await open_default_stores(cfg)
            path = "/v1/customers/42"
        else:
            cfg = load_config_text(build_config(row))
            if row in STORES:
                from cpragate.storage.base import open_stores

                stores = await open_stores("memory://", redis_url=cfg.storage.redis)
                if hasattr(stores.blocks, "refresh"):
                    # Redis's block mirror refreshes every second of wall-clock time: under
                    # callgrind (~50x slower) that is every few requests instead of once per
                    # thousands, and its redis-py HGETALL would dominate the row.
                    stores.blocks.refresh = 3600.0
        extra = extra.replace(b"%TOKEN%", jwt_material()[1].encode()) if b"%TOKEN%" in extra else extra
        gw = Gateway(cfg, loop, stores=stores)
        rt = gw.runtime
        pool = next(iter(rt.pools.values()))
        up = UpstreamConnection(pool)
        up.connection_made(UpstreamTransport(up, loop))  # type: ignore[arg-type]
        up.reusable = True
        pool.idle.append(up)
        client = ClientConnection(ListenerRuntime(gw, gw.cfg.listeners[0]))
        ct = ClientTransport()
        client.connection_made(ct)  # type: ignore[arg-type]
        req = b"GET " + path.encode() + b" HTTP/1.1\r\nhost: api.example\r\nuser-agent: bench\r\naccept: */*\r\n" + extra + b"\r\n"
        if profiler is not None:
            profiler.enable()
        threads0 = thread_cpu()
        t0 = time.process_time()
        for _ in range(n):
            before = ct.responses
            if row in FROM_LOOP:
                ct.waiter = loop.create_future()
                loop.call_soon(client.data_received, req)  # not inside this Task (see FROM_LOOP)
                await ct.waiter
            else:
                client.data_received(req)
            while ct.responses == before:
                if ct.closed:  # e.g. limits.keepalive_requests (10,000) reached: one connection here
                    raise SystemExit(f"{row}: the gateway closed the client connection after "
                                     f"{ct.responses} responses; use a smaller N")
                await asyncio.sleep(0)
        dt = time.process_time() - t0
        threads1 = thread_cpu()
        if os.environ.get("INSTR_THREADS"):
            for name, cpu in sorted(threads1.items(), key=lambda kv: -kv[1]):
                used = cpu - threads0.get(name, 0.0)
                if used > 0:
                    print(f"  thread {name:28s} {used * 1e6 / n:8.1f} CPU-us/request")
        if profiler is not None:
            profiler.disable()
        if ct.responses != n:
            raise SystemExit(f"{row}: {ct.responses} of {n} answered 200")
        await gw.stop()  # closes the stores too
        if saved_logging is not None:
            logging.getLogger().handlers[:], level = saved_logging
            logging.getLogger().setLevel(level)
        return dt


def inner(row: str, n: int) -> None:
    import uvloop

    dt = uvloop.run(drive(row, n))
    print(f"{row} {n} {dt * 1e6 / n:.1f}us/req")


def count(row: str, n: int, src: str | None = None, pure: bool = False) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__, "--inner", row, str(n)],
            capture_output=True, text=True,
            # a fixed hash seed: with a random one, start-up (billions of instructions) varies
            # by more than 0.1 % between the N and 2N runs, i.e. thousands per request
            env={**os.environ, "PYTHONHASHSEED": "0", "INSTR_SRC": src or "", **({"CPRAGATE_PURE": "1"} if pure else {})},
        )
        if r.returncode != 0:
            tail = "\n".join([ln for ln in r.stderr.splitlines() if not ln.startswith("==")][-15:])
            raise SystemExit(f"{row}: the inner run failed (exit {r.returncode}):\n{tail}")
        m = re.search(rb"^summary:\s*(\d+)", out.read_bytes(), re.M)
        if m is None:
            m = re.search(rb"^totals:\s*(\d+)", out.read_bytes(), re.M)
        assert m is not None
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="*", default=[*ROWS, "demo"])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--inner", nargs=2, metavar=("ROW", "N"))
    ap.add_argument("--cpu", action="store_true", help="no valgrind: CPU-µs/request in this process")
    ap.add_argument("--pure-baseline", action="store_true", help="baseline = the same source, not compiled (CPRAGATE_PURE=1)")
    ap.add_argument("--baseline", metavar="SRC", help="also count another src/ tree (e.g. a `git archive` of a commit) and print the ratio")
    args = ap.parse_args()
    if args.inner:
        inner(args.inner[0], int(args.inner[1]))
        return 0
    if any(b"%TOKEN%" in ROWS.get(r, ("", b""))[1] for r in args.rows):
        jwt_material()  # once, for every inner run
    for row in args.rows:
        if args.cpu:
            inner(row, args.n)
            continue
        a, b = count(row, args.n), count(row, 2 * args.n)
        now = (b - a) / args.n
        if args.baseline or args.pure_baseline:
            a0 = count(row, args.n, args.baseline, args.pure_baseline)
            b0 = count(row, 2 * args.n, args.baseline, args.pure_baseline)
            base = (b0 - a0) / args.n
            print(f"{row:20s} {now:10.0f} instructions/request (baseline {base:.0f}; ratio {now / base:.3f})")
        else:
            print(f"{row:20s} {now:10.0f} instructions/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
