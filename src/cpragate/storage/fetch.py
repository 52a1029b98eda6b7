"""A small HTTPS GET client for documents the gateway must fetch (JWKS).

Filters never do I/O: the JWT verifier awaits a ``fetch(url)`` it is handed, and this is
that fetcher. Bounded in every way: connect + read timeout, response size, no redirects
(a JWKS URL that redirects is a misconfiguration, not something to follow silently).
Concurrent fetches of the same URL share one request (single flight), so a burst of
tokens with an unknown ``kid`` causes one fetch, not one per request.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httptools

from cpragate.errors import StorageError

__all__ = ["HttpFetcher"]


class _Parser:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body: list[bytes] = []
        self.size = 0
        self.done = False
        self.p = httptools.HttpResponseParser(self)

    def on_body(self, b: bytes) -> None:
        self.size += len(b)
        if self.size > self.limit:
            raise StorageError("fetched document exceeds the size limit.")
        self.body.append(b)

    def on_message_complete(self) -> None:
        self.done = True


class HttpFetcher:
    """``await fetch(url)`` returns the body of a 200 answer, or raises StorageError."""

    def __init__(self, timeout: float = 5.0, max_bytes: int = 1 << 20, ca_file: str | None = None) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ca_file = ca_file
        self._inflight: dict[str, asyncio.Future[bytes]] = {}

    async def fetch(self, url: str) -> bytes:
        if asyncio.current_task() is None:  # stepped outside a Task by server/eager.py
            return await asyncio.ensure_future(self.fetch(url))
        fut = self._inflight.get(url)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[url] = fut
        try:
            body = await asyncio.wait_for(self._get(url), self.timeout)
        except StorageError as e:
            fut.set_exception(e)
            raise
        except (OSError, TimeoutError, ssl.SSLError, httptools.HttpParserError) as e:
            err = StorageError(f"fetching {_safe(url)} failed ({type(e).__name__}).")
            fut.set_exception(err)
            raise err from None
        else:
            fut.set_result(body)
            return body
        finally:
            self._inflight.pop(url, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: no "never retrieved" warning when nobody else waited

    async def _get(self, url: str) -> bytes:
        u = urlsplit(url)
        if u.scheme not in ("https", "http") or not u.hostname:
            raise StorageError(f"cannot fetch {_safe(url)}: only http(s) URLs.")
        ctx: ssl.SSLContext | None = None
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.ca_file)
        port = u.port or (443 if u.scheme == "https" else 80)
        r, w = await asyncio.open_connection(u.hostname, port, ssl=ctx, server_hostname=u.hostname if ctx else None)
        try:
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")
            host = u.hostname if u.port is None else f"{u.hostname}:{u.port}"
            w.write(
                f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
                f"User-Agent: cpragate\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            await w.drain()
            p = _Parser(self.max_bytes)
            while not p.done:
                data = await r.read(65536)
                if not data:
                    p.p.feed_data(b"")
                    break
                p.p.feed_data(data)
            if not p.done:
                raise StorageError(f"{_safe(url)} closed the connection before the end of the answer.")
            status = p.p.get_status_code()
            if status != 200:
                raise StorageError(f"{_safe(url)} answered HTTP {status}.")
            return b"".join(p.body)
        finally:
            w.close()


def _safe(url: str) -> str:
    """The URL without credentials or query (they may hold secrets)."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}{u.path}"
