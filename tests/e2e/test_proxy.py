"""The data plane over real sockets: routing, framing, keep-alive, errors, limits."""

from __future__ import annotations

import asyncio
import gzip
from typing import ClassVar

import orjson
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, canned_upstream, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e


def ok(req: OriginRequest) -> OriginResponse:
    r = req.request
    body = orjson.dumps(
        {"method": r.method, "path": r.raw_path.decode(), "query": r.query.decode(), "len": len(r.body or b""),
         "headers": {n.decode(): v.decode() for n, v in r.headers}}
    )
    return OriginResponse(200, [(b"content-type", b"application/json"), (b"server", b"upstream/1.0")], body)


def test_forwarding_headers_request_id_and_banner() -> None:
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/a?x=1", {"connection": "keep-alive, x-hop", "x-hop": "secret", "te": "trailers"})
            assert r.status == 200
            doc = orjson.loads(r.body)
            assert doc["path"] == "/v1/a" and doc["query"] == "x=1"
            h = doc["headers"]
            assert h["x-forwarded-for"] == "127.0.0.1" and h["x-forwarded-proto"] == "http" and h["x-forwarded-host"] == "localhost"
            assert h["host"] == f"127.0.0.1:{o.port}"
            assert "x-hop" not in h and "te" not in h and "connection" not in h
            assert h["x-request-id"] == (r.h("x-request-id") or b"").decode()
            assert r.h("server") is None  # banner removed
            assert r.h("x-content-type-options") == b"nosniff"
            r2 = await c.request("GET", "/v1/b", {"x-request-id": "client-abc.1"})
            assert r2.h("x-request-id") == b"client-abc.1"
            assert orjson.loads(r2.body)["headers"]["x-request-id"] == "client-abc.1"
            r3 = await c.request("GET", "/v1/b", {"x-request-id": "bad id<script>"})
            assert r3.h("x-request-id") != b"bad id<script>"
            await c.close()

    run(t())


def test_spoofed_xff_ignored_unless_peer_trusted() -> None:
    async def t() -> None:
        async with origin(ok) as o:
            async with gateway(plain_config(o.port)) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/x", {"x-forwarded-for": "6.6.6.6"})
                assert orjson.loads(r.body)["headers"]["x-forwarded-for"] == "127.0.0.1"
            async with gateway(plain_config(o.port, extra='trusted_proxies: ["127.0.0.0/8"]')) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/x", {"x-forwarded-for": "203.0.113.9"})
                assert orjson.loads(r.body)["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"

    run(t())


def test_keepalive_reuses_upstream_connections() -> None:
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            for i in range(25):
                assert (await c.request("GET", f"/k/{i}")).status == 200
            assert o.connections == 1
            assert gw.runtime.pools["o"].connects == 1
            await c.close()

    run(t())


def test_unrouted_and_bad_paths_never_reach_upstream() -> None:
    routes = '  - {path: "/v1/customers/{id}", upstream: o}\n  - {path: "/v1/tickets", upstream: o, methods: [POST]}\n'
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port, routes)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            cases = [
                ("GET", "/admin", 404, "CPG-ROUTE-001"),
                ("GET", "/v1/customers/1/../../../admin", 404, "CPG-ROUTE-001"),  # canonical /admin: unrouted
                ("GET", "/v1/customers/1/../../../../admin", 400, "CPG-HTTP-004"),  # above the root
                ("GET", "/v1/customers/1%2f..%2fadmin", 400, "CPG-HTTP-004"),
                ("GET", "/v1/customers/%252e%252e", 400, "CPG-HTTP-004"),
                ("DELETE", "/v1/customers/1", 405, "CPG-ROUTE-002"),
                ("GET", "/v1/tickets", 405, "CPG-ROUTE-002"),
            ]
            for method, path, status, code in cases:
                r = await c.request(method, path)
                assert r.status == status, path
                assert r.h("content-type") == b"application/problem+json"
                assert orjson.loads(r.body)["code"] == code
            r = await c.request("GET", "/v1//customers/./7")
            assert r.status == 200 and orjson.loads(r.body)["path"] == "/v1/customers/7"
            assert [q.raw_path for q in o.requests] == [b"/v1/customers/7"]

    run(t())


def test_post_bodies_content_length_and_chunked() -> None:
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("POST", "/p", {"content-type": "application/json"}, b'{"a":1}')
            assert orjson.loads(r.body)["len"] == 7
            await c.send_raw(b"POST /p HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
            (r,) = await c.read_replies()
            assert orjson.loads(r.body)["len"] == 7
            assert o.requests[-1].body == b"abcdefg"
            await c.send_raw(b"PUT /p HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n")
            await asyncio.sleep(0.1)
            await c.send_raw(b"xyz")
            data = await c.r.readuntil(b"\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 100 Continue")
            (r,) = await c.read_replies()
            assert orjson.loads(r.body)["len"] == 3

    run(t())


def test_pipelined_requests_answered_in_order() -> None:
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            await c.send_raw(b"".join(b"GET /pipe/%d HTTP/1.1\r\nhost: x\r\n\r\n" % i for i in range(5)))
            replies = await c.read_replies(5)
            assert [orjson.loads(r.body)["path"] for r in replies] == [f"/pipe/{i}" for i in range(5)]

    run(t())


def test_response_framing_chunked_close_delimited_head_204() -> None:
    async def stream() -> object:
        for i in range(3):
            yield b"part%d;" % i

    def handler(req: OriginRequest) -> OriginResponse:
        p = req.request.raw_path
        if p == b"/chunked":
            return OriginResponse(200, [], stream=stream())
        if p == b"/204":
            return OriginResponse(204, [])
        if p == b"/head":
            return OriginResponse(200, [(b"content-length", b"10")], b"")
        return ok(req)

    async def t() -> None:
        async with origin(handler) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/chunked")
            assert r.body == b"part0;part1;part2;" and r.chunked
            r = await c.request("GET", "/204")
            assert r.status == 204 and r.body == b""
            r = await c.request("HEAD", "/anything")
            assert r.status == 200 and r.body == b""
            r = await c.request("GET", "/after-head")
            assert orjson.loads(r.body)["path"] == "/after-head"

    run(t())


def test_close_delimited_upstream_response() -> None:
    async def t() -> None:
        async with canned_upstream(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil-close") as port:
            async with gateway(plain_config(port)) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/x")
                assert r.status == 200 and r.body == b"until-close" and r.chunked

    run(t())


@pytest.mark.parametrize("filters", ["", ", filters: []"])
def test_the_upstream_date_is_kept_and_sent_once(filters: str) -> None:
    # With no response filter the parser hands the Date over; with one, the head is looked at.
    route = f'  - {{path: "/**", upstream: o, methods: ["*"]{filters}}}\n'
    dated = b"HTTP/1.1 200 OK\r\ndate: Tue, 01 Jan 2030 00:00:00 GMT\r\ncontent-length: 2\r\n\r\nok"
    undated = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    async def t() -> None:
        for reply, want in ((dated, b"Tue, 01 Jan 2030 00:00:00 GMT"), (undated, None)):
            async with canned_upstream(reply) as port, gateway(plain_config(port, routes=route)) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/x")
                assert r.status == 200 and r.body == b"ok"
                dates = r.headers.get(b"date", [])
                assert len(dates) == 1
                if want is not None:
                    assert dates[0] == want
                else:
                    assert dates[0].endswith(b" GMT") and not dates[0].startswith(b"Tue, 01 Jan 2030")
                await c.close()

    run(t())


def test_upstream_errors_map_to_502_504() -> None:
    def slow(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [], b"late", delay=2.0)

    async def t() -> None:
        async with origin(slow) as o:
            cfg = plain_config(o.port).replace("allow_plaintext: true", "allow_plaintext: true, timeouts: {read: 0.3}")
            async with gateway(cfg) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/slow")
                assert r.status == 504 and orjson.loads(r.body)["code"] == "CPG-UPS-003"
        from .conftest import free_port

        async with gateway(plain_config(free_port())) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/down")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-UPS-002"

    run(t())


def test_malformed_upstream_response_is_502() -> None:
    async def t() -> None:
        reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello"
        async with canned_upstream(reply, close=False) as port, gateway(plain_config(port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/x")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-UPS-001"

    run(t())


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd", 400),
        (b"GET /x HTTP/1.1\nhost: a\n\n", 400),
        (b"GET /x HTTP/1.1\r\nhost: a\r\n folded\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nhost: a\r\nx-big: " + b"a" * 40000 + b"\r\n\r\n", 431),
        (b"GET /x HTTP/1.1\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
    ],
)
def test_hostile_requests_refused_and_closed(raw: bytes, status: int) -> None:
    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            await c.send_raw(raw)
            (r,) = await c.read_replies()
            assert r.status == status
            assert await c.closed()
            assert o.requests == []

    run(t())


class BodyFilter(Filter):
    """A test filter that needs both bodies, like the PII and validation filters will."""

    name = "body_probe"
    priority = 500
    needs_request_body = True
    needs_response_body = True
    seen: ClassVar[list[tuple[str, bytes]]] = []

    async def on_request(self, exchange: Exchange) -> Verdict:
        self.seen.append(("req", exchange.request.body or b""))
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        assert exchange.response is not None
        self.seen.append(("resp", exchange.response.body or b""))
        exchange.response.body = (exchange.response.body or b"").replace(b"secret", b"******")
        return CONTINUE


def test_inspected_routes_buffer_decompress_and_refuse() -> None:
    bomb = gzip.compress(b"0" * (5 * 1024 * 1024))

    def handler(req: OriginRequest) -> OriginResponse:
        p = req.request.raw_path
        if p == b"/gz":
            return OriginResponse(200, [(b"content-encoding", b"gzip")], gzip.compress(b'{"v":"secret"}'))
        if p == b"/bomb":
            return OriginResponse(200, [(b"content-encoding", b"gzip")], bomb)
        if p == b"/br":
            return OriginResponse(200, [(b"content-encoding", b"br")], b"xx")
        if p == b"/big":
            return OriginResponse(200, [], b"x" * 200_000)
        return OriginResponse(200, [(b"content-type", b"application/json")], b'{"v":"secret","echo":%d}' % len(req.request.body or b""))

    routes = '  - {path: "/**", upstream: o, methods: ["*"], max_body_bytes: 100000}\n'

    async def t() -> None:
        BodyFilter.seen.clear()
        async with origin(handler) as o, gateway(plain_config(o.port, routes), {"body_probe": BodyFilter}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/plain", {"accept-encoding": "gzip, br"})
            assert r.body == b'{"v":"******","echo":0}' and r.h("content-length") == str(len(r.body)).encode()
            assert o.requests[-1].headers.get_all(b"accept-encoding") == [b"identity"]
            r = await c.request("GET", "/gz", {"accept-encoding": "gzip"})
            assert r.body == b'{"v":"******"}' and r.h("content-encoding") is None
            r = await c.request("GET", "/bomb")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-HTTP-003"
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/br")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-HTTP-005"
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/big")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-HTTP-003"
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("POST", "/up", {}, gzip.compress(b"hello"), )
            assert r.status == 200  # gzip request body without content-encoding is just bytes
            r = await c.request("POST", "/up", {"content-encoding": "gzip"}, gzip.compress(b"hello"))
            assert r.status == 200 and o.requests[-1].body == b"hello"
            r = await c.request("POST", "/up", {}, b"y" * 150_000)
            assert r.status == 413 and orjson.loads(r.body)["code"] == "CPG-HTTP-003"
            assert ("req", b"hello") in BodyFilter.seen

    run(t())


def test_redirect_listener() -> None:
    async def t() -> None:
        async with origin(ok) as o:
            cfg = plain_config(o.port).replace('listeners: [{bind: "127.0.0.1:0"}]', 'listeners: [{bind: "127.0.0.1:0", redirect_to_https: "https://api.example.com"}]')
            async with gateway(cfg) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/v1/x?y=1")
                assert r.status == 308 and r.h("location") == b"https://api.example.com/v1/x?y=1"
                assert o.requests == []

    run(t())


def test_idle_and_header_timeouts() -> None:
    async def t() -> None:
        async with origin(ok) as o:
            cfg = plain_config(o.port, extra="limits: {idle_timeout: 0.3, header_timeout: 0.3}")
            async with gateway(cfg) as gw:
                c = await Client.open(gw.bound_ports()[0])
                assert (await c.request("GET", "/a")).status == 200
                assert await c.closed(timeout=3)  # idle keep-alive closed
                c = await Client.open(gw.bound_ports()[0])
                await c.send_raw(b"GET /a HTTP/1.1\r\nhost: x\r\n")  # slow-loris: head never ends
                (r,) = await c.read_replies(timeout=3)
                assert r.status == 408

    run(t())


def test_pipelined_requests_with_bodies_streamed_and_inspected() -> None:
    BodyFilter.seen.clear()
    routes = '  - {path: "/plain/**", upstream: o, methods: ["*"], filters: []}\n  - {path: "/inspect/**", upstream: o, methods: ["*"]}\n'

    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port, routes), {"body_probe": BodyFilter}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            raw = (
                b"POST /plain/1 HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"
                b"POST /plain/2 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
                b"POST /inspect/3 HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nsecr"
                b"POST /inspect/4 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nghi\r\n0\r\n\r\n"
            )
            await c.send_raw(raw)
            replies = await c.read_replies(4)
            assert [orjson.loads(r.body)["len"] for r in replies] == [3, 3, 4, 3]
            assert [q.body for q in o.requests] == [b"abc", b"def", b"secr", b"ghi"]
            assert ("req", b"secr") in BodyFilter.seen and ("req", b"ghi") in BodyFilter.seen

    run(t())


def test_client_that_never_reads_is_aborted_after_send_timeout() -> None:
    async def endless() -> object:
        for _ in range(400):
            yield b"z" * 65536

    def handler(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [], stream=endless())

    async def t() -> None:
        async with origin(handler) as o, gateway(plain_config(o.port, extra="limits: {send_timeout: 0.5}")) as gw:
            import socket as pysocket

            s = pysocket.socket()
            s.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", gw.bound_ports()[0]))
            s.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
            for _ in range(60):
                await asyncio.sleep(0.1)
                if not gw.connections:
                    break
            assert not gw.connections, "the stalled client should have been cut off"
            s.close()

    run(t())
