"""Hostile HTTP over real sockets: smuggling and malformed framing, slow clients, the
connection cap, every spelling of a protected path, and method-override headers.

The framing table complements ``test_proxy.test_hostile_requests_refused_and_closed``
(CL+TE, duplicate CL, bare LF, folding, duplicate Host, header caps); the path table runs
against an echo upstream that records every request it receives, so a vector that
slipped past the rule written for its canonical path would show up there.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.core.normalize import PathRefused, normalize_path
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.authn.apikeys import generate_key, hash_key
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e


class Echo:
    """An upstream that answers with what it received and remembers every request."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, req: OriginRequest) -> OriginResponse:
        r = req.request
        doc = {
            "method": r.method,
            "path": r.raw_path.decode("latin-1"),
            "body": (r.body or b"").decode("latin-1"),
            "headers": {n.decode(): v.decode("latin-1") for n, v in r.headers},
        }
        self.seen.append(doc)
        return OriginResponse(200, [(b"content-type", b"application/json")], orjson.dumps(doc))


class BodyProbe(Filter):
    """Makes a route buffer its request body, like the validation and PII filters do."""

    name = "body_probe"
    priority = 500
    needs_request_body = True

    async def on_request(self, exchange: Exchange) -> Verdict:
        return CONTINUE


H = b"host: a\r\n"
# (id, raw bytes, status, code): every one is refused, the connection closed, nothing forwarded.
FRAMING: list[tuple[str, bytes, int, str]] = [
    ("space-in-header-name", b"GET /x HTTP/1.1\r\n" + H + b"bad name: 1\r\n\r\n", 400, "CPG-HTTP-001"),
    ("non-token-header-name", b"GET /x HTTP/1.1\r\n" + H + b"x(y): 1\r\n\r\n", 400, "CPG-HTTP-001"),
    ("header-without-colon", b"GET /x HTTP/1.1\r\n" + H + b"nocolon\r\n\r\n", 400, "CPG-HTTP-001"),
    ("space-before-colon", b"GET /x HTTP/1.1\r\n" + H + b"x-a : 1\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-space-before-colon", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding : chunked\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("nul-in-header-value", b"GET /x HTTP/1.1\r\n" + H + b"x-a: 1\x002\r\n\r\n", 400, "CPG-HTTP-001"),
    ("bare-cr-in-value", b"GET /x HTTP/1.1\r\n" + H + b"x-a: 1\r2\r\n\r\n", 400, "CPG-HTTP-001"),
    ("bare-cr-line-end", b"GET /x HTTP/1.1\r\nhost: a\rx: y\r\n\r\n", 400, "CPG-HTTP-001"),
    ("tab-folding", b"GET /x HTTP/1.1\r\n" + H + b"\tfolded\r\n\r\n", 400, "CPG-HTTP-001"),
    ("chunk-size-not-hex", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("chunk-size-negative", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("chunk-size-overflow", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n", 400, "CPG-HTTP-001"),
    ("chunk-longer-than-size", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("chunk-size-space-ext", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("chunk-size-bare-lf", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-chunked-not-last", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-xchunked", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: xchunked\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-gzip-only", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: gzip\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-twice", b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("te-in-http-1.0", b"POST /x HTTP/1.0\r\n" + H + b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400, "CPG-HTTP-001"),
    ("cl-plus-sign", b"POST /x HTTP/1.1\r\n" + H + b"content-length: +3\r\n\r\nabc", 400, "CPG-HTTP-001"),
    ("cl-negative", b"POST /x HTTP/1.1\r\n" + H + b"content-length: -1\r\n\r\nabc", 400, "CPG-HTTP-001"),
    ("cl-list", b"POST /x HTTP/1.1\r\n" + H + b"content-length: 3, 3\r\n\r\nabc", 400, "CPG-HTTP-001"),
    ("cl-duplicate-equal", b"POST /x HTTP/1.1\r\n" + H + b"content-length: 3\r\ncontent-length: 3\r\n\r\nabc", 400, "CPG-HTTP-001"),
    ("cl-hex", b"POST /x HTTP/1.1\r\n" + H + b"content-length: 0x3\r\n\r\nabc", 400, "CPG-HTTP-001"),
    ("cl-overflow", b"POST /x HTTP/1.1\r\n" + H + b"content-length: 99999999999999999999999\r\n\r\n", 400, "CPG-HTTP-001"),
    ("no-host-1.1", b"GET /x HTTP/1.1\r\n\r\n", 400, "CPG-HTTP-001"),
    ("http-2.0-line", b"GET /x HTTP/2.0\r\n" + H + b"\r\n", 400, "CPG-HTTP-001"),
    ("http-0.9-line", b"GET /x HTTP/0.9\r\n\r\n", 400, "CPG-HTTP-001"),
    ("no-version", b"GET /x\r\n\r\n", 400, "CPG-HTTP-001"),
    ("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "CPG-HTTP-001"),
    ("trailing-space-version", b"GET /x HTTP/1.1 \r\n" + H + b"\r\n", 400, "CPG-HTTP-001"),
    ("nul-in-method", b"G\x00T /x HTTP/1.1\r\n" + H + b"\r\n", 400, "CPG-HTTP-001"),
    ("websocket-upgrade", b"GET /x HTTP/1.1\r\n" + H + b"upgrade: websocket\r\nconnection: upgrade\r\n\r\n", 400, "CPG-HTTP-001"),
    ("h2c-upgrade", b"GET /x HTTP/1.1\r\n" + H + b"upgrade: h2c\r\nconnection: upgrade, http2-settings\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n", 400, "CPG-HTTP-001"),
    ("connect", b"CONNECT evil:443 HTTP/1.1\r\nhost: evil:443\r\n\r\n", 405, "CPG-ROUTE-002"),
    ("trace", b"TRACE /x HTTP/1.1\r\n" + H + b"\r\n", 405, "CPG-ROUTE-002"),
    ("webdav-method", b"PROPFIND /x HTTP/1.1\r\n" + H + b"\r\n", 405, "CPG-ROUTE-002"),
    ("uri-too-long", b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\n" + H + b"\r\n", 431, "CPG-HTTP-002"),
    ("header-value-too-long", b"GET /x HTTP/1.1\r\n" + H + b"cookie: " + b"c" * 33000 + b"\r\n\r\n", 431, "CPG-HTTP-002"),
    (
        "smuggled-second-request-after-bad-chunk",
        b"POST /x HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\n5;\x00\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n",
        400,
        "CPG-HTTP-001",
    ),
]


@pytest.mark.parametrize(("raw", "status", "code"), [pytest.param(r, s, c, id=i) for i, r, s, c in FRAMING])
def test_malformed_framing_is_refused_closed_and_never_forwarded(raw: bytes, status: int, code: str) -> None:
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            await c.send_raw(raw)
            replies = await c.read_replies(2, timeout=5)  # a second reply would be a smuggled request
            assert [r.status for r in replies] == [status]
            assert orjson.loads(replies[0].body)["code"] == code
            assert replies[0].h("connection") == b"close"
            assert await c.closed()
            # The upstream may have seen the head of a request whose body broke later, but
            # never a complete request (the origin records only complete ones).
            assert echo.seen == []

    run(t())


def test_slow_request_bodies_get_408_streamed_or_buffered() -> None:
    """A client that stops sending its body is cut off after limits.body_timeout, whether the
    body streams to the upstream (plain route) or is buffered for inspection (validated route)."""
    routes = (
        '  - {path: "/stream", upstream: o, methods: [POST], filters: []}\n'
        '  - {path: "/inspect", upstream: o, methods: [POST]}\n'
    )
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o:
            cfg = plain_config(o.port, routes, extra="limits: {body_timeout: 0.4}")
            async with gateway(cfg, {"body_probe": BodyProbe}) as gw:
                for path in ("/stream", "/inspect"):
                    c = await Client.open(gw.bound_ports()[0])
                    await c.send_raw(b"POST " + path.encode() + b" HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly-part")
                    (r,) = await c.read_replies(timeout=8)
                    assert r.status == 408, (path, r.status, r.body)
                    assert orjson.loads(r.body)["code"] == "CPG-HTTP-006"
                    assert await c.closed()
                assert echo.seen == []  # the streamed one reached the upstream only as an incomplete request

    run(t())


def test_slowloris_trickling_the_head_is_cut_off_by_the_head_deadline() -> None:
    """header_timeout bounds the whole head, so one byte at a time does not keep it alive."""

    async def t() -> None:
        echo = Echo()
        async with origin(echo) as o, gateway(plain_config(o.port, extra="limits: {header_timeout: 0.5, idle_timeout: 30}")) as gw:
            c = await Client.open(gw.bound_ports()[0])
            head = b"GET /x HTTP/1.1\r\nhost: a\r\n" + b"x-pad: " + b"p" * 200
            sent = 0
            got_408 = False
            for byte in head:  # ~ 23 s if the gateway never cut us off
                try:
                    await c.send_raw(bytes([byte]))
                except ConnectionError:
                    break
                sent += 1
                await asyncio.sleep(0.1)
                if c.r.at_eof() or c.r._buffer:  # type: ignore[attr-defined]
                    break
            replies = await c.read_replies(timeout=5)
            got_408 = bool(replies) and replies[0].status == 408
            assert got_408 and sent < len(head)
            assert await c.closed()
            assert echo.seen == []

    run(t())


def test_connection_cap_closes_the_extra_connection_at_once() -> None:
    async def t() -> None:
        echo = Echo()
        async with origin(echo) as o, gateway(plain_config(o.port, extra="limits: {max_connections: 2}")) as gw:
            port = gw.bound_ports()[0]
            a, b = await Client.open(port), await Client.open(port)
            assert (await a.request("GET", "/a")).status == 200
            assert (await b.request("GET", "/b")).status == 200
            extra = await Client.open(port)
            with pytest.raises((ConnectionError, TimeoutError)):
                await extra.request("GET", "/c", timeout=5)
            assert [s["path"] for s in echo.seen] == ["/a", "/b"]
            await a.close()
            for _ in range(50):  # the slot frees once the gateway saw the close
                await asyncio.sleep(0.05)
                if len(gw.connections) < 2:
                    break
            d = await Client.open(port)
            assert (await d.request("GET", "/d")).status == 200

    run(t())


# --------------------------------------------------------------------------- path vectors

ADMIN_SPELLINGS = [
    "/admin", "/admin/", "//admin", "///admin//", "/./admin", "/x/../admin", "/public/../admin", "/x/y/../../admin",
    "/admin/.", "/admin/x/..", "/%2e/admin", "/%2E/admin", "/x/%2e%2e/admin", "/x/.%2e/admin", "/%61dmin", "/adm%69n",
    "/%61%64%6d%69%6e", "/ADMIN", "/Admin", "/%41DMIN", "/admin/users", "/admin//users", "/ADMIN/Users/../users",
    "/admin?x=/../public",
]
REFUSED_SPELLINGS = [
    "/admin%2f", "/%2fadmin", "/public%2f..%2fadmin", "/public/..%2fadmin", "/%252e/admin", "/%252e%252e/admin",
    "/admin%252f", "/%25%32%65/admin", "/admin;", "/admin;x=1", "/admin;/", "/public;/../admin", "/..;/admin",
    "/%2e%2e/admin", "/../admin", "/public/../../admin", "/admin%00", "/admin%0a", "/admin%0d%0a", "/admin%7f",
    "/admin\\", "/%5cadmin", "/public\\..\\admin", "/%EF%BD%81dmin", "/%EF%BC%8Fadmin", "/adm%E2%84%AAin",
    "/%C0%AFadmin", "/%C0%AE%C0%AE/admin", "/%E0%80%AFadmin", "/admin%", "/admin%2", "/admin%zz", "/admin#x",
    "/\u0430dmin", "/admin\u2215x",
]
# Other resources: routed on their own canonical path (the anonymous catch-all), and the
# upstream receives exactly that path (so it cannot read them as /admin).
OTHER_SPELLINGS = ["/admin.", "/admin%20", "/admins", "/adm/in", "/public/admin", "/%C4%B1admin", "/admin..", "/admin~"]


def _routes() -> str:
    return (
        '  - {path: /admin, upstream: o, methods: [GET, POST, DELETE], authz: {scopes: [admin]}}\n'
        '  - {path: "/admin/**", upstream: o, methods: [GET, POST, DELETE], authz: {scopes: [admin]}}\n'
        '  - {path: "/items/{id}", upstream: o, methods: [GET, POST], authz: {scopes: [read]}}\n'
        '  - {path: "/**", upstream: o, methods: [GET], auth: {anonymous: true}}\n'
    )


def _filters(keys: dict[str, tuple[str, str]], routing: str = "") -> str:
    declared = ", ".join(f"{{consumer: {n}, prefix: {p}, hash: {hash_key(k.encode())}}}" for n, (k, p) in keys.items())
    return f"""
{routing}
filters:
  authn:
    consumers: [{{name: user, purpose: contractor, scopes: [read]}}, {{name: root, purpose: contractor, scopes: [admin, read]}}]
    api_keys: {{keys: [{declared}]}}
"""


def _send_target(target: str) -> bytes:
    return b"GET " + target.encode("utf-8") + b" HTTP/1.1\r\nhost: a\r\n"


def test_every_spelling_of_admin_hits_the_admin_rule_or_is_refused() -> None:
    keys = {"user": generate_key(), "root": generate_key()}
    echo = Echo()
    outcomes: dict[str, list[int]] = {}

    async def one(port: int, target: str, key: str | None) -> tuple[int, int]:
        c = await Client.open(port)
        before = len(echo.seen)
        head = _send_target(target) + (f"x-api-key: {key}\r\n".encode() if key else b"") + b"\r\n"
        try:
            await c.send_raw(head)
            replies = await c.read_replies(timeout=5)
        finally:
            await c.close()
        assert replies, target
        return replies[0].status, len(echo.seen) - before

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, _routes(), extra=_filters(keys, "routing: {case_sensitive: false}"))) as gw:
            port = gw.bound_ports()[0]
            for target in ADMIN_SPELLINGS + REFUSED_SPELLINGS + OTHER_SPELLINGS:
                results = [await one(port, target, k) for k in (None, keys["user"][0], keys["root"][0])]
                outcomes[target] = [s for s, _ in results]
                for status, forwarded in results:
                    assert forwarded == (1 if status == 200 else 0), (target, status)  # only served requests reach it
                try:
                    canon: str | None = normalize_path(target.split("?")[0].encode("utf-8"))
                except PathRefused:
                    canon = None
                if target in REFUSED_SPELLINGS:
                    assert canon is None or outcomes[target] == [400, 400, 400], target
                    assert all(s == 400 for s in outcomes[target]), (target, outcomes[target])
                    continue
                assert canon is not None, target
                if target in ADMIN_SPELLINGS:
                    # anonymous 401, a caller without the scope 403, the admin 200: the /admin rule applied
                    assert outcomes[target] == [401, 403, 200], (target, outcomes[target])
                    got = echo.seen[-1]
                    assert got["path"] == canon and got["path"].lower().rstrip("/") in ("/admin", "/admin/users"), (target, got)
                    assert got["headers"]["x-cpragate-consumer"] == "root"
                else:
                    assert outcomes[target][0] == 200, (target, outcomes[target])  # the anonymous catch-all
                    assert echo.seen[-1]["path"] == canon and canon.rstrip("/").lower() not in ("/admin",), (target, canon)

    run(t())
    # every served request carried a canonical path, and no admin path arrived without the admin
    for got in echo.seen:
        assert normalize_path(got["path"].encode()) == got["path"]
        if got["path"].lower().startswith("/admin/") or got["path"].lower() == "/admin":
            assert got["headers"].get("x-cpragate-consumer") == "root", got


def test_case_sensitive_routing_sends_other_cases_as_their_own_path() -> None:
    """Default routing is case-sensitive: /ADMIN is another resource, and the upstream gets
    /ADMIN (not /admin); an upstream that folds case needs routing.case_sensitive: false."""
    keys = {"user": generate_key(), "root": generate_key()}
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, _routes(), extra=_filters(keys))) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/ADMIN")
            assert r.status == 200 and echo.seen[-1]["path"] == "/ADMIN"
            r = await c.request("GET", "/admin")
            assert r.status == 401

    run(t())


OVERRIDES = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]


@pytest.mark.parametrize("header", OVERRIDES)
def test_method_override_headers_are_stripped_unless_enabled(header: str) -> None:
    keys = {"user": generate_key(), "root": generate_key()}
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, _routes(), extra=_filters(keys))) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("POST", "/items/1", {"x-api-key": keys["user"][0], header: "DELETE"}, b"{}")
            assert r.status == 200
            got = echo.seen[-1]
            assert got["method"] == "POST"
            assert not {h.lower() for h in OVERRIDES} & set(got["headers"])  # never reaches an upstream that honours it

    run(t())


@pytest.mark.parametrize("header", OVERRIDES)
def test_method_override_when_enabled_is_routed_and_checked_as_the_overriding_method(header: str) -> None:
    keys = {"user": generate_key(), "root": generate_key()}
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, _routes(), extra=_filters(keys, "routing: {method_override: true}"))) as gw:
            port = gw.bound_ports()[0]

            async def req(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Any:
                c = await Client.open(port)  # a refusal before the body is read closes the connection
                try:
                    return await c.request(method, path, headers, body)
                finally:
                    await c.close()

            user, root = keys["user"][0], keys["root"][0]
            # DELETE is not a method of /items/{id}: refused as DELETE, not served as POST
            r = await req("POST", "/items/1", {"x-api-key": user, header: "DELETE"}, b"{}")
            assert r.status == 405 and echo.seen == []
            # DELETE /admin needs the admin scope: the DELETE rule applies to the override
            r = await req("POST", "/admin", {"x-api-key": user, header: "delete"}, b"{}")
            assert r.status == 403 and echo.seen == []
            r = await req("POST", "/admin", {"x-api-key": root, header: "DELETE"}, b"{}")
            assert r.status == 200
            got = echo.seen[-1]
            assert got["method"] == "DELETE" and not {h.lower() for h in OVERRIDES} & set(got["headers"])
            # an override naming a method the gateway does not know is refused
            r = await req("POST", "/admin", {"x-api-key": root, header: "TRACE"}, b"{}")
            assert r.status == 400 and len(echo.seen) == 1
            # only POST is overridden: GET with the header stays GET
            r = await req("GET", "/items/1", {"x-api-key": user, header: "DELETE"})
            assert r.status == 200 and echo.seen[-1]["method"] == "GET"

    run(t())


def test_raw_socket_vectors_leave_the_gateway_serving() -> None:
    """After every framing vector above, on fresh connections, the gateway still serves."""
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port)) as gw:
            port = gw.bound_ports()[0]
            for _, raw, _, _ in FRAMING:
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(raw)
                s.close()  # hang up without reading: the gateway must cope
            c = await Client.open(port)
            r = await c.request("GET", "/still-up")
            assert r.status == 200 and echo.seen[-1]["path"] == "/still-up"

    run(t())


@pytest.mark.parametrize("chunks", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n", b"2\r\nab\r\n-1\r\n"])
def test_bad_chunks_on_an_inspected_route_are_refused_with_an_answer(chunks: bytes) -> None:
    """The body is being buffered for a filter when its framing breaks: 400, closed, nothing forwarded."""
    echo = Echo()

    async def t() -> None:
        routes = '  - {path: "/inspect", upstream: o, methods: [POST]}\n'
        async with origin(echo) as o, gateway(plain_config(o.port, routes), {"body_probe": BodyProbe}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            await c.send_raw(b"POST /inspect HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n" + chunks)
            replies = await c.read_replies(2, timeout=5)
            assert [r.status for r in replies] == [400]
            assert await c.closed()
            assert echo.seen == []

    run(t())
