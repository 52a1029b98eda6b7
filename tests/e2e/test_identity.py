"""Identity end to end over real sockets: the BOLA/BFLA matrix on the demo API, JWKS over
HTTPS, rate limits shared by two gateway processes through the real Redis (within 2 %),
and a private Redis stopped and restarted under a running gateway."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import RSAKey

from cpragate.config import load_config_text
from cpragate.demo.api import DemoApi
from cpragate.demo.certs import DevPki, ensure_dev_pki
from cpragate.demo.run import MARKETING_KEY, SUPPORT_KEY, api_ssl_context, demo_config
from cpragate.filters.authn.apikeys import generate_key, hash_key
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginRequest, OriginResponse
from cpragate.storage import open_stores
from cpragate.storage.fetch import HttpFetcher

from .conftest import Client, client_ssl, free_port, origin, run, server_ssl, start_cpragate, stop_proc

pytestmark = pytest.mark.e2e

REDIS = ("127.0.0.1", 6379)


def require_redis() -> None:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not answering on 127.0.0.1:6379 and CI=true: never skipped")
        pytest.skip("Redis is not answering on 127.0.0.1:6379")


# --------------------------------------------------------------------------- BOLA/BFLA matrix

S, M, P, A = "support", "marketing", "partner", "anonymous"
# (operation, path) -> expected status per caller. Customers 42/45 are tenant t1, 43 t2,
# 44 t3; orders 10005 t1, 10001 t3; ticket 50001 belongs to a t1 customer.
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/v1/customers/42", {S: 200, M: 403, P: 403, A: 401}),
    ("GET", "/v1/customers/43", {S: 404, M: 403, P: 403, A: 401}),
    ("GET", "/v1/customers/44", {S: 404, M: 403, P: 403, A: 401}),
    ("GET", "/v1/customers/99999", {S: 404, M: 403, P: 403, A: 401}),  # absent looks like not-yours
    ("GET", "/v1/customers?limit=3", {S: 200, M: 403, P: 403, A: 401}),
    ("GET", "/v1/customers/183/orders", {S: 200, M: 404, P: 403, A: 401}),  # t1 customer with orders
    ("GET", "/v1/orders/10005", {S: 200, M: 404, P: 403, A: 401}),
    ("GET", "/v1/orders/10001", {S: 404, M: 200, P: 403, A: 401}),
    ("GET", "/v1/tickets/50001", {S: 200, M: 403, P: 200, A: 401}),
    ("POST", "/v1/tickets", {S: 201, M: 403, P: 403, A: 401}),
    ("GET", "/v1/admin", {S: 404, M: 404, P: 404, A: 404}),
    ("GET", "/health", {S: 200, M: 200, P: 200, A: 200}),
]


def test_bola_bfla_matrix_on_the_demo_api(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "state")

    async def t() -> None:
        async with origin(DemoApi(), ssl_context=api_ssl_context(pki)) as api:
            cfg = demo_config(tmp_path / "state", "127.0.0.1:0", f"https://127.0.0.1:{api.port}")
            stores = await open_default_stores(cfg)
            gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
            await gw.start()
            try:
                port = gw.bound_ports()[0]
                clients = {
                    S: (await Client.open(port, client_ssl(pki)), {"x-api-key": SUPPORT_KEY}),
                    M: (await Client.open(port, client_ssl(pki)), {"x-api-key": MARKETING_KEY}),
                    P: (await Client.open(port, client_ssl(pki, "partner")), {}),
                    A: (await Client.open(port, client_ssl(pki)), {}),
                }
                got: dict[tuple[str, str, str], int] = {}
                for method, path, expected in MATRIX:
                    for who in expected:
                        c, hdrs = clients[who]
                        body = b'{"customer_id": 42, "body": "hello"}' if method == "POST" else b""
                        h = {**hdrs, "content-type": "application/json"} if body else hdrs
                        r = await c.request(method, path, h, body)
                        got[(method, path, who)] = r.status
                        if r.status in (401, 403, 404) and path != "/v1/admin":
                            assert r.h("content-type") in (b"application/problem+json", b"application/json")
                            assert b"tenant" not in r.body and b"t1" not in r.body  # nothing about the object
                        if r.status == 401:
                            assert r.h("www-authenticate") is not None
                want = {(m, p, w): s for m, p, e in MATRIX for w, s in e.items()}
                assert got == want, {k: (got[k], want[k]) for k in want if got[k] != want[k]}
            finally:
                await gw.stop(drain_timeout=1)  # closes the stores too

    run(t())


# --------------------------------------------------------------------------- JWT with JWKS over HTTPS

def test_jwt_from_a_jwks_url_over_https(pki: DevPki) -> None:
    key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwk = dict(key.as_dict(private=False))
    jwk["kid"] = "k1"

    def idp(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [(b"content-type", b"application/json")], json.dumps({"keys": [jwk]}).encode())

    def echo(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [(b"content-type", b"text/plain")], req.request.headers.get(b"x-cpragate-consumer") or b"-")

    async def t() -> None:
        async with origin(idp, ssl_context=server_ssl(pki)) as idp_srv, origin(echo) as up:
            cfg = load_config_text(f"""
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{up.port}", allow_plaintext: true}}}}
routes:
  - {{path: /data, upstream: o, authz: {{scopes: [data:read]}}}}
storage: {{url: "memory://"}}
filters:
  authn:
    jwt: {{issuer: "https://idp", audience: [api], jwks_url: "https://localhost:{idp_srv.port}/jwks"}}
""")
            stores = await open_stores("memory://")
            stores.fetcher = HttpFetcher(ca_file=pki.path("ca.pem"))
            gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
            await gw.start()
            try:
                c = await Client.open(gw.bound_ports()[0])
                now = int(time.time())

                def tok(**kw: Any) -> str:
                    claims = {"iss": "https://idp", "aud": "api", "sub": "app-1", "exp": now + 60, "scope": "data:read", **kw}
                    return jws.serialize_compact({"alg": "RS256", "kid": "k1"}, json.dumps(claims).encode(), key)

                r = await c.request("GET", "/data", {"authorization": f"Bearer {tok()}"})
                assert r.status == 200 and r.body == b"app-1"
                r = await c.request("GET", "/data", {"authorization": f"Bearer {tok(scope='other')}"})
                assert r.status == 403
                r = await c.request("GET", "/data", {"authorization": f"Bearer {tok(exp=now - 3600)}"})
                assert r.status == 401 and b"invalid_token" in (r.h("www-authenticate") or b"")
                r = await c.request("GET", "/data", {"authorization": f"Bearer {tok()}", "x-cpragate-consumer": "admin"})
                assert r.body == b"app-1"  # a client cannot name itself
            finally:
                await gw.stop(drain_timeout=1)  # closes the stores too

    run(t())


# --------------------------------------------------------------------------- two processes, one Redis

def test_two_gateway_processes_share_the_limit_within_2_percent(tmp_path: Path) -> None:
    require_redis()
    key, prefix = generate_key()
    rate, burst = 200, 20

    def ok(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [(b"content-type", b"text/plain")], b"ok")

    async def t() -> None:
        async with origin(ok) as up:
            procs = []
            ns = f"test-{uuid.uuid4().hex[:10]}"
            try:
                for i in range(2):
                    port = free_port()
                    p = tmp_path / f"gw{i}.yaml"
                    p.write_text(f"""
listeners: [{{bind: "127.0.0.1:{port}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{up.port}", allow_plaintext: true}}}}
routes: [{{path: /x, upstream: o, authz: {{}}}}]
storage: {{url: "memory://", redis: "redis://127.0.0.1:6379/0?prefix={ns}"}}
filters:
  authn:
    consumers: [{{name: app, purpose: contractor}}]
    api_keys: {{keys: [{{consumer: app, prefix: {prefix}, hash: {hash_key(key.encode())}}}]}}
  ratelimit: {{per_consumer: {{rate: {rate}, per: 1, burst: {burst}}}}}
""")
                    procs.append(start_cpragate(p, port, log=tmp_path / f"gw{i}.log"))
                counts = {200: 0, 429: 0}
                stop_at = time.monotonic() + 3.0

                async def worker(port: int) -> None:
                    c = await Client.open(port)
                    while time.monotonic() < stop_at:
                        r = await c.request("GET", "/x", {"x-api-key": key})
                        counts[r.status] = counts.get(r.status, 0) + 1
                        if r.status == 429:
                            assert r.h("retry-after") is not None and r.h("ratelimit-policy") == f'"consumer";q={burst};w=1'.encode()

                t0 = time.monotonic()
                await asyncio.gather(*(worker(p.port) for p in procs for _ in range(4)))
                elapsed = time.monotonic() - t0
                expected = burst + rate * elapsed
                assert counts[429] > counts[200] / 4, counts  # offered well above the limit
                assert abs(counts[200] - expected) <= 0.02 * expected, (counts, expected)
            finally:
                for p in procs:
                    stop_proc(p)

    run(t())


# --------------------------------------------------------------------------- a private Redis, stopped and restarted

def start_redis(port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is required (scripts/test installs it)")
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("private redis did not start")


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_private_redis_stopped_and_restarted(tmp_path: Path, on_error: str) -> None:
    keys = {name: generate_key() for name in ("alice-app", "bob-app")}

    def echo(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [(b"content-type", b"text/plain")], req.request.headers.get(b"x-cpragate-consumer") or b"-")

    async def t() -> None:
        rport = free_port()
        redis = start_redis(rport)
        try:
            async with origin(echo) as up:
                declared = ", ".join(f"{{consumer: {n}, prefix: {p}, hash: {hash_key(k.encode())}}}" for n, (k, p) in keys.items())
                cfg = load_config_text(f"""
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{up.port}", allow_plaintext: true}}}}
routes: [{{path: /x, upstream: o, authz: {{}}}}]
storage: {{url: "memory://", redis: "redis://127.0.0.1:{rport}/0"}}
filters:
  authn:
    consumers: [{{name: alice-app, purpose: contractor}}, {{name: bob-app, purpose: contractor}}]
    api_keys: {{keys: [{declared}]}}
  ratelimit: {{per_consumer: {{rate: 1000, per: 1, burst: 1000}}, on_error: {on_error}}}
""")
                stores = await open_stores("memory://", redis_url=cfg.storage.redis)
                gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
                await gw.start()
                try:
                    c = await Client.open(gw.bound_ports()[0])

                    async def round_(expect: int) -> None:
                        for name, (k, _) in keys.items():
                            t0 = time.monotonic()
                            r = await c.request("GET", "/x", {"x-api-key": k})
                            assert r.status == expect, (name, r.status, r.body)
                            assert time.monotonic() - t0 < 2.0  # a dead Redis never hangs a request
                            if r.status == 200:
                                assert r.body == name.encode()  # never another consumer's identity
                            if r.status == 503:
                                assert r.h("ratelimit") is None

                    await round_(200)
                    redis.terminate()
                    redis.wait(10)
                    for _ in range(3):
                        await round_(503 if on_error == "deny" else 200)
                    restarted = start_redis(rport)
                    try:
                        deadline = time.monotonic() + 10
                        while True:  # recovers by itself: no gateway restart
                            r = await c.request("GET", "/x", {"x-api-key": keys["alice-app"][0]})
                            if r.status == 200 and r.h("ratelimit") is not None:
                                break
                            assert time.monotonic() < deadline, r.status
                            await asyncio.sleep(0.1)
                        await round_(200)
                    finally:
                        restarted.terminate()
                        restarted.wait(10)
                finally:
                    await gw.stop(drain_timeout=1)  # closes the stores too
        finally:
            if redis.poll() is None:
                redis.terminate()
                redis.wait(10)

    run(t())
