"""Protocol-level unit tests with fake transports (the e2e suite covers real sockets)."""

import asyncio
from typing import Any

from cpragate.config import load_config_text
from cpragate.server.gateway import Gateway, ListenerRuntime
from cpragate.server.http1 import ClientConnection
from cpragate.testing import make_exchange, make_request

CFG = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "http://127.0.0.1:9", allow_plaintext: true}}
routes: [{path: /a, upstream: o}]
storage: {url: "memory://"}
limits: {max_connections: 1}
"""


class FakeTransport:
    def __init__(self) -> None:
        self.out = b""
        self.closed = False
        self.aborted = False

    def write(self, d: bytes) -> None:
        self.out += d

    def get_extra_info(self, k: str, default: object = None) -> object:
        return ("192.0.2.1", 4444) if k == "peername" else default

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def conn() -> tuple[ClientConnection, FakeTransport, Gateway]:
    gw = Gateway(load_config_text(CFG), asyncio.get_event_loop())
    c = ClientConnection(ListenerRuntime(gw, gw.cfg.listeners[0]))
    t = FakeTransport()
    c.connection_made(t)  # type: ignore[arg-type]
    return c, t, gw


def test_unrouted_answered_without_upstream() -> None:
    async def t() -> None:
        c, tr, _ = conn()
        c.data_received(b"GET /zzz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert tr.out.startswith(b"HTTP/1.1 404 Not Found\r\n") and not tr.closed

    asyncio.run(t())


def test_garbage_gets_400_and_close() -> None:
    async def t() -> None:
        c, tr, _ = conn()
        c.data_received(b"\x16\x03\x01 this is TLS to a plain port\r\n\r\n")
        assert tr.out.startswith(b"HTTP/1.1 400") and tr.closed

    asyncio.run(t())


def test_connection_limit() -> None:
    async def t() -> None:
        _c, _tr, gw = conn()
        c2 = ClientConnection(ListenerRuntime(gw, gw.cfg.listeners[0]))
        t2 = FakeTransport()
        c2.connection_made(t2)  # type: ignore[arg-type]
        assert t2.aborted and c2 not in gw.connections

    asyncio.run(t())


def test_request_line_and_host_rules_close_the_connection() -> None:
    async def t() -> None:
        for raw, status in [
            (b"GET /a HTTP/1.1\r\n\r\n", b"400"),  # no Host (RFC 9112 3.2)
            (b"GET /a HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", b"400"),  # TE in 1.0
            (b"GET /a HTTP/2.0\r\nhost: x\r\n\r\n", b"400"),
            (b"TRACE /a HTTP/1.1\r\nhost: x\r\n\r\n", b"405"),
            (b"GET /a HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n", b"400"),
        ]:
            c, tr, _ = conn()
            c.data_received(raw)
            assert tr.out.startswith(b"HTTP/1.1 " + status) and tr.closed, raw
            c.connection_lost(None)

    asyncio.run(t())


def test_http_1_0_without_host_is_accepted() -> None:
    async def t() -> None:
        c, tr, _ = conn()
        c.data_received(b"GET /zzz HTTP/1.0\r\n\r\n")
        assert tr.out.startswith(b"HTTP/1.1 404")

    asyncio.run(t())


def test_reads_arrive_through_the_shared_buffer_one_connection_after_another() -> None:
    """uvloop hands reads to the BufferedProtocol interface: get_buffer, then buffer_updated.
    Each read is parsed before the next one is put in the shared buffer, so a request split
    over reads, interleaved with another connection's, parses intact."""

    async def t() -> None:
        c, tr, gw = conn()
        gw.runtime.cfg.limits.__dict__["max_connections"] = 10  # frozen model: test-only
        c2 = ClientConnection(ListenerRuntime(gw, gw.cfg.listeners[0]))
        t2 = FakeTransport()
        c2.connection_made(t2)  # type: ignore[arg-type]

        def read(conn: ClientConnection, data: bytes) -> None:
            buf = conn.get_buffer(-1)
            assert len(buf) >= len(data)
            buf[: len(data)] = data
            conn.buffer_updated(len(data))

        read(c, b"GET /")
        read(c2, b"GET /yy HTTP/1.1\r\nhost: y\r\n\r\n")  # overwrites the shared buffer
        read(c, b"a HTTP/1.1\r\nhost: x\r\n\r\n")
        assert t2.out.startswith(b"HTTP/1.1 404 Not Found\r\n")
        # each kept its own copy of what it read: c's request is /a (routed, waiting for the upstream)
        assert tr.out == b"" and c.active is not None and c.active.ex.request.path == "/a"
        assert c.get_buffer(-1) is c2.get_buffer(-1)  # one buffer per loop, none per connection

    asyncio.run(t())


def test_access_log_pi_summary_follows_the_counts_it_is_asked_about() -> None:
    # The summary remembers the last counts it formatted (a route answers the same shape
    # over and over): a different shape, or the same dict changed afterwards, must not
    # get the remembered text.
    from cpragate.pii.engine import Annotations
    from cpragate.server.http1 import _pi_summary

    def ex_with(cats: dict[str, int], spi: int) -> Any:
        ex = make_exchange(make_request("GET", "/v1/customers/42"))
        ex.pii = Annotations(categories=cats, spi=spi)
        return ex

    a = {"identifiers": 5, "financial": 1}
    assert _pi_summary(ex_with(a, 2)) == " pi=financial:1,identifiers:5 spi=2"
    assert _pi_summary(ex_with(dict(a), 2)) == " pi=financial:1,identifiers:5 spi=2"
    assert _pi_summary(ex_with(dict(a), 3)) == " pi=financial:1,identifiers:5 spi=3"
    a["financial"] = 4  # the exchange's own dict changed after it was summarized
    assert _pi_summary(ex_with(a, 3)) == " pi=financial:4,identifiers:5 spi=3"
    assert _pi_summary(ex_with({"identifiers": 5}, 3)) == " pi=identifiers:5 spi=3"
    assert _pi_summary(ex_with({}, 0)) == ""
    assert _pi_summary(make_exchange(make_request())) == ""
