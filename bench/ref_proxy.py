"""Reference point for the benchmark: a bare reverse proxy on uvloop + httptools.

It has zero gateway logic (no routing, no filters, no request id, no forwarded
headers), so its row in bench/RESULTS.md says what the data-plane stack itself costs.
It does what any HTTP/1.1 proxy must: keep-alive to clients, a pool of keep-alive
connections to the one upstream, hop-by-hop headers dropped, Content-Length bodies
passed as they are and chunked bodies re-chunked, in both directions, streaming with
back-pressure (a slow reader pauses the other side). Pipelined requests are queued.
Known gaps, on purpose: no timeouts, no 1xx/Upgrade, no HEAD-aware response framing.

    python bench/ref_proxy.py --listen 127.0.0.1:8081 --upstream 127.0.0.1:8090 \
        [--cert cert.pem --key key.pem]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ssl
import sys

import httptools
import uvloop

HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    )
)
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class Pool:
    """Idle keep-alive connections to the upstream, newest first."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: list[Upstream] = []

    def take(self) -> Upstream | None:
        while self.idle:
            up = self.idle.pop()
            if not up.closed:
                return up
        return None

    def give(self, up: Upstream) -> None:
        if len(self.idle) < self.size and not up.closed:
            up.client = None
            self.idle.append(up)
        else:
            up.transport.close()


class Exchange:
    __slots__ = ("body", "chunked", "done_sending", "head", "keep_alive", "up")

    def __init__(self, head: bytes, chunked: bool, keep_alive: bool) -> None:
        self.head, self.chunked, self.keep_alive = head, chunked, keep_alive
        self.body: list[bytes] | None = []  # buffered until an upstream is attached
        self.up: Upstream | None = None
        self.done_sending = False

    def send(self, data: bytes) -> None:
        if self.up is not None:
            self.up.transport.write(data)
        elif self.body is not None:
            self.body.append(data)


class Client(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[Exchange] = collections.deque()
        self.cur: Exchange | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.transport.close()  # mid-exchange: the upstream can't be reused
        self.queue.clear()

    # back-pressure: the client reads slower than the upstream sends
    def pause_writing(self) -> None:
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.transport.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.headers, self.url = [], b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        p = self.parser
        out = [p.get_method(), b" ", self.url, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in self.headers:
            low = name.lower()
            if low in HOP:
                chunked = chunked or low == b"transfer-encoding"
                continue
            out += (name, b": ", value, b"\r\n")
        out.append(b"transfer-encoding: chunked\r\n\r\n" if chunked else b"\r\n")
        self.cur = ex = Exchange(b"".join(out), chunked, p.should_keep_alive())
        self.queue.append(ex)
        if len(self.queue) == 1:
            self.dispatch()
        elif len(self.queue) > 8:
            self.transport.pause_reading()  # too many pipelined requests waiting

    def on_body(self, body: bytes) -> None:
        ex = self.cur
        if ex is not None:
            ex.send(b"%x\r\n%b\r\n" % (len(body), body) if ex.chunked else body)

    def on_message_complete(self) -> None:
        ex = self.cur
        if ex is not None:
            if ex.chunked:
                ex.send(b"0\r\n\r\n")
            ex.done_sending = True
        self.cur = None

    # upstream side
    def dispatch(self) -> None:
        up = self.pool.take()
        if up is None:
            asyncio.get_running_loop().create_task(self.connect())
        else:
            self.attach(up)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, up = await loop.create_connection(lambda: Upstream(self.pool), self.pool.host, self.pool.port)
        except OSError:
            if not self.closed:
                self.transport.write(BAD_GATEWAY)
                self.transport.close()
            return
        if self.closed:
            self.pool.give(up)
        else:
            self.attach(up)

    def attach(self, up: Upstream) -> None:
        ex = self.queue[0]
        up.client, ex.up = self, up
        up.transport.write(ex.head + b"".join(ex.body or ()))
        ex.body = None

    def response_done(self, up: Upstream, upstream_keep_alive: bool) -> None:
        ex = self.queue.popleft()
        ex.up = None
        if upstream_keep_alive and ex.done_sending:
            self.pool.give(up)
        else:
            up.transport.close()
        if not ex.keep_alive:
            self.transport.close()
        elif self.queue:
            self.dispatch()
        if len(self.queue) <= 8:
            self.transport.resume_reading()

    def upstream_failed(self) -> None:
        self.transport.close()


class Upstream(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.client: Client | None = None
        self.closed = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.chunked = False
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        # what one read produces (head and body, usually) goes out in one write
        self.out: list[bytes] = []
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()
        self.flush()

    def flush(self) -> None:
        if self.out and self.client is not None:
            self.client.transport.write(b"".join(self.out))
        self.out = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        client, self.client = self.client, None
        if client is not None and not client.closed:
            client.upstream_failed()

    # back-pressure: the upstream reads a request body slower than the client sends
    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.transport.resume_reading()

    def on_message_begin(self) -> None:
        self.headers, self.reason = [], b""

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        client = self.client
        if client is None or client.closed:
            return
        status = self.parser.get_status_code()
        out = [b"HTTP/1.1 %d %b\r\n" % (status, self.reason)]
        has_length = False
        for name, value in self.headers:
            low = name.lower()
            if low in HOP:
                continue
            has_length = has_length or low == b"content-length"
            out += (name, b": ", value, b"\r\n")
        self.chunked = not has_length and status not in (204, 304)
        if self.chunked:
            out.append(b"transfer-encoding: chunked\r\n")
        if not client.queue[0].keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        self.out.append(b"".join(out))

    def on_body(self, body: bytes) -> None:
        self.out.append(b"%x\r\n%b\r\n" % (len(body), body) if self.chunked else body)

    def on_message_complete(self) -> None:
        client = self.client
        if client is None:
            return
        if self.chunked:
            self.out.append(b"0\r\n\r\n")
        self.flush()
        self.client = None
        client.response_done(self, self.parser.should_keep_alive())


async def serve(args: argparse.Namespace) -> None:
    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    pool = Pool(up_host, int(up_port), args.pool_size)
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(pool), host, int(port), ssl=ctx, backlog=4096)
    print(f"ref_proxy listening on {args.listen} -> {args.upstream}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:8081")
    ap.add_argument("--upstream", default="127.0.0.1:8090")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--pool-size", type=int, default=256)
    uvloop.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
