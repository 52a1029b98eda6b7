"""A small HTTP/1.1 origin server on the same stack, for the demo API and tests.

``Handler(request) -> OriginResponse`` is a plain (sync or async) function; the server
does keep-alive, Content-Length and chunked bodies, TLS and mTLS. It is not the
gateway: it has no routing rules, limits or filters.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httptools

from cpragate.core.messages import Headers, Request
from cpragate.server.tls import tls_info
from cpragate.server.wire import status_line

__all__ = ["OriginRequest", "OriginResponse", "OriginServer"]


@dataclass
class OriginRequest:
    request: Request
    peer_cert_subject: str | None = None


@dataclass
class OriginResponse:
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    """Chunks sent with Transfer-Encoding: chunked instead of ``body``."""
    delay: float = 0.0
    """Seconds to wait before answering (timeout tests)."""
    close: bool = False


Handler = Callable[[OriginRequest], OriginResponse | Awaitable[OriginResponse]]


class _Conn(asyncio.Protocol):
    def __init__(self, server: OriginServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.queue: asyncio.Queue[tuple[Request, bool] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.subject: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1
        self.server.open.add(self)
        info = tls_info(transport.get_extra_info("ssl_object"))
        self.subject = info.client_subject if info else None
        self.task = asyncio.get_running_loop().create_task(self._worker())

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open.discard(self)
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", [], []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        if self.server.discard_bodies:
            self.server.body_bytes += len(body)
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self.url.partition(b"?")
        req = Request(
            self.parser.get_method().decode(),
            path,
            path.decode("latin-1"),
            query,
            Headers._from_lowered(self.headers),
            b"".join(self.body),
        )
        self.queue.put_nowait((req, self.parser.should_keep_alive()))

    async def _worker(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None or self.transport is None or self.transport.is_closing():
                return
            req, keep = item
            self.server.requests.append(req)
            res = self.server.handler(OriginRequest(req, self.subject))
            resp: OriginResponse = await res if inspect.isawaitable(res) else res
            if resp.delay:
                await asyncio.sleep(resp.delay)
            if self.transport.is_closing():
                return
            close = resp.close or not keep
            head = [status_line(resp.status)]
            for n, v in resp.headers:
                head.append(b"%s: %s\r\n" % (n, v))
            if close:
                head.append(b"connection: close\r\n")
            if resp.stream is not None:
                head.append(b"transfer-encoding: chunked\r\n\r\n")
                self.transport.write(b"".join(head))
                async for chunk in resp.stream:
                    if self.transport.is_closing():
                        return  # the client (a gateway that refused the body) went away
                    if chunk:
                        self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        if self.transport.get_write_buffer_size() > 1 << 20:
                            await asyncio.sleep(0.001)
                self.transport.write(b"0\r\n\r\n")
            else:
                if req.method != "HEAD" and resp.status not in (204, 304):
                    head.append(b"content-length: %d\r\n" % len(resp.body))
                head.append(b"\r\n")
                self.transport.write(b"".join(head) + (b"" if req.method == "HEAD" else resp.body))
            if close:
                self.transport.close()
                return


class OriginServer:
    """Serve ``handler`` on ``host:port`` (port 0 = any free port) until ``close()``."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None, discard_bodies: bool = False) -> None:
        self.handler = handler
        self.ssl = ssl_context
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.connections = 0
        self.requests: list[Request] = []
        self.open: set[_Conn] = set()
        self.discard_bodies = discard_bodies
        self.body_bytes = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> OriginServer:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Conn(self), host, port, ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for c in list(self.open):
                if c.transport is not None:
                    c.transport.close()
            await self.server.wait_closed()


def json_handler(fn: Callable[[OriginRequest], tuple[int, bytes]]) -> Handler:
    def h(req: OriginRequest) -> OriginResponse:
        status, body = fn(req)
        return OriginResponse(status, [(b"content-type", b"application/json")], body)

    return h


