"""Pooled keep-alive connections to one upstream, as asyncio Protocols.

Rules:

* A connection serves one request at a time (no pipelining upstream) and goes back to
  the idle list only after a complete response whose framing allows reuse.
* An idle connection the upstream closed is discarded on sight (``closed``); a request
  that fails on a *reused* connection before any response byte arrived is retried once
  on a fresh connection if it had no body (the classic keep-alive race), never otherwise.
* With ``limits.batch_writes`` a request is held on its connection (``held``) until the
  end of the loop's pass (``Gateway.queue_send``); a later write, a close or an abort sends
  it first. Bytes that arrive while it is held answer nothing we sent (an idle
  connection's stale reply, e.g. a keep-alive 408): the connection is closed unsent and
  the request fails as on a lost connection (so a body-less one is retried).
* Errors are mapped here to the gateway's error classes; nothing from ssl/socket leaks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from cpragate.config.model import Upstream
from cpragate.errors import (
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTlsError,
    UpstreamUnavailable,
)
from cpragate.server.h1parse import ParseError, parsers
from cpragate.server.tls import client_context

__all__ = ["UpstreamConnection", "UpstreamPool", "UpstreamUser"]

_, ResponseParser = parsers()
# Response headers the data plane reads itself (framing, hop-by-hop tokens).
# date: the client gets the upstream's Date (response_head), found here without a scan of the list
_SPECIAL_RESP: Final = frozenset({b"content-length", b"transfer-encoding", b"connection", b"date"})
# An upstream's head beyond this is refused as a broken upstream (502), not buffered on.
_MAX_RESP_HEAD: Final = 256 * 1024
_HOLD_BYTES: Final = 64 * 1024
"""A held request (``UpstreamConnection.send(..., hold=True)``) takes body bytes written in
the same pass up to this; beyond it, everything goes at once (the transport's
back-pressure then applies, as for the client side's batch)."""

log = logging.getLogger("cpragate.upstream")


class Corkable(Protocol):
    corked: bool

    def uncork(self) -> None: ...


class UpstreamUser(Protocol):
    """What a connection reports to the request cycle it serves."""

    @property
    def conn(self) -> Corkable:
        """The client side, corked while one upstream read is processed."""
        ...

    def upstream_ready(self, conn: UpstreamConnection) -> None: ...
    def upstream_failed(self, error: type[GatewayError], conn: UpstreamConnection | None) -> None: ...
    def upstream_head(self, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None: ...
    def upstream_body(self, chunk: bytes) -> None: ...
    def upstream_done(self) -> None: ...
    def upstream_pause(self) -> None: ...
    def upstream_resume(self) -> None: ...


def closed_feed(data: bytes | memoryview) -> bool:
    """A lost connection's parser (client or upstream side): reads nothing. Set by
    ``connection_lost`` in place of the parser's ``feed_data``, which held the connection."""
    return False


class UpstreamConnection(asyncio.BufferedProtocol):
    """One connection to the upstream; parses responses with llhttp (``server/h1parse.py``).

    A ``BufferedProtocol`` reading into its pool's buffer, like the client side
    (``ClientConnection``): no 256 KiB ``bytes`` allocated per TLS read.
    """

    __slots__ = (
        "_feed",
        "_framing_close",
        "_no_body",
        "_parser",
        "_rview",
        "_status",
        "closed",
        "got_bytes",
        "held",
        "idle_since",
        "loop",
        "pool",
        "requests",
        "resp_cl",
        "resp_conn",
        "resp_date",
        "resp_te",
        "reusable",
        "transport",
        "user",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.user: UpstreamUser | None = None
        self._parser = self._new_parser()
        self._feed: Callable[[bytes | memoryview], bool] = self._parser.feed_data
        self._rview: memoryview = pool.read_view
        self._no_body = False
        self._status = 0
        self._framing_close = False
        self.resp_cl: bytes | None = None
        self.resp_te: bytes | None = None
        self.resp_date: bytes | None = None
        self.resp_conn = False
        self.closed = False
        self.reusable = False
        self.got_bytes = False
        self.requests = 0
        self.idle_since = 0.0
        self.held: bytes | None = None
        """A request head held until the end of the loop's pass (``send(..., hold=True)``)."""

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        # Shared by the pool's connections: each read is parsed before the next arrives.
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self.held is not None:
            # Our request has not left yet: these bytes answer nothing we sent. Never read
            # them as its answer (nor send it after them): fail it as a lost connection.
            self.held = None
            user = self.user
            self.user = None
            self.close()
            if user is not None:
                user.upstream_failed(UpstreamUnavailable, self)
            return
        self.got_bytes = True
        user = self.user
        if user is None:
            # Bytes on an idle connection: the upstream is confused; never reuse it.
            self.close()
            return
        client = user.conn
        client.corked = True  # one upstream read -> one client write (see ClientConnection.cork)
        try:
            self._feed(data)
        except ParseError:
            user = self.user
            self.user = None
            self.close()
            if user is not None:
                user.upstream_failed(UpstreamError, self)
        finally:
            client.uncork()

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        # Cycles only the cyclic GC would free (see ClientConnection.connection_lost): the
        # parser and this connection hold each other, and a TLS transport's SSLProtocol keeps
        # this connection's buffer callbacks. Nothing parses or writes after this.
        self._parser = None
        self._feed = closed_feed
        self.transport = None
        user = self.user
        self.user = None
        if user is not None:
            if self._close_delimited_in_progress():
                user.upstream_done()
            else:
                user.upstream_failed(UpstreamUnavailable if not self.got_bytes else UpstreamError, self)

    def pause_writing(self) -> None:
        if self.user is not None:
            self.user.upstream_pause()

    def resume_writing(self) -> None:
        if self.user is not None:
            self.user.upstream_resume()

    # --- parser callbacks (h1parse)
    def _new_parser(self) -> Any:
        return ResponseParser(self, _SPECIAL_RESP, None, _MAX_RESP_HEAD)

    def on_head(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        special: dict[bytes, bytes],
        version: str,
        keep: bool,
    ) -> None:
        self._status = status
        if 100 <= status < 200:
            return  # interim response (we never send Expect upstream): skipped
        self.resp_cl = special.get(b"content-length")
        self.resp_te = special.get(b"transfer-encoding")
        self.resp_date = special.get(b"date")
        # Only tokens beyond keep-alive/close name extra hop-by-hop headers to strip. A plain
        # loop: compiled, a generator for any() cost ~1k instructions per response (most
        # keep-alive upstreams send "Connection: keep-alive").
        extra = False
        if b"connection" in special:
            for n, v in headers:
                if n == b"connection":
                    lv = v.lower()
                    if lv != b"keep-alive" and lv != b"close":
                        extra = True
                        break
        self.resp_conn = extra
        user = self.user
        no_body = self._no_body or status in (204, 304)
        if not no_body:
            if self.resp_cl is None and self.resp_te is None:
                self._framing_close = True
                keep = False
        self.reusable = keep
        if user is not None:
            user.upstream_head(status, headers, keep)
        if no_body:
            # llhttp would wait for a body that a HEAD/204/304 response never has.
            self._parser = self._new_parser()
            self._feed = self._parser.feed_data
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self.user is not None:
            self.user.upstream_body(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            return
        self._finish()

    # --- used by the request cycle
    def send(self, user: UpstreamUser, head: bytes, no_body_response: bool, hold: bool = False) -> None:
        """Send a request (its head, and any body bytes already at hand).

        ``hold``: keep the bytes until :meth:`flush_out` (the gateway's write batch, called
        once the loop has handled every event that was ready; ``limits.batch_writes``). A
        write made on loopback wakes the upstream's process, and in a VM that wake-up costs
        the writer about as much again as the write: written together after the pass, an
        upstream serving many of this pool's connections wakes once for all of them. Any
        later write, a close or an abort sends the held bytes first, so their order and
        what the upstream receives are those of an immediate send."""
        self.user = user
        self.requests += 1
        self.got_bytes = False
        self._no_body = no_body_response
        assert self.transport is not None and self.held is None
        if hold:
            self.held = head
        else:
            self.transport.write(head)

    def flush_out(self) -> None:
        """Write the held request bytes now (the batch's flush; a later write, close, abort)."""
        held = self.held
        if held is not None:
            self.held = None
            if self.transport is not None and not self.closed:
                self.transport.write(held)

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            if len(held) + len(data) <= _HOLD_BYTES:
                self.held = held + data  # body bytes of the same pass go out with the head
                return
            self.flush_out()
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def detach(self) -> None:
        """The cycle gives the connection up mid-exchange: it cannot be reused."""
        self.user = None
        self.close()

    def close(self) -> None:
        if self.held is not None:
            self.flush_out()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.held is not None:
            self.flush_out()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _close_delimited_in_progress(self) -> bool:
        # Only a response that had its head and no length framing ends at close.
        return self._framing_close

    def _finish(self) -> None:
        user = self.user
        self.user = None
        self._framing_close = False
        if user is not None:
            user.upstream_done()
        self.pool.release(self)


class UpstreamPool:
    """Keep-alive pool for one upstream."""

    def __init__(
        self,
        name: str,
        cfg: Upstream,
        loop: asyncio.AbstractEventLoop,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.loop = loop
        self.read_view = memoryview(bytearray(256 * 1024))
        """What this pool's connections read (see UpstreamConnection.get_buffer)."""
        u = urlsplit(cfg.url)
        self.scheme = u.scheme
        self.host = u.hostname or ""
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = (u.path or "").rstrip("/").encode("ascii")
        default_port = (u.scheme == "https" and self.port == 443) or (u.scheme == "http" and self.port == 80)
        host_hdr = self.host if ":" not in self.host else f"[{self.host}]"
        self.host_header = (host_hdr if default_port else f"{host_hdr}:{self.port}").encode("idna")
        self.ssl: ssl.SSLContext | None = None
        self.server_hostname: str | None = None
        if self.scheme == "https":
            self.ssl = ssl_context or client_context(cfg.tls)
            self.server_hostname = cfg.tls.server_name or self.host
        self.connect_timeout = cfg.timeouts.connect
        self.read_timeout = cfg.timeouts.read
        self.preserve_host = cfg.preserve_host
        self.max_idle = cfg.pool.max_idle
        self.idle_timeout = cfg.pool.idle_timeout
        self.idle: list[UpstreamConnection] = []
        self.all: set[UpstreamConnection] = set()
        self.closing = False
        self.connects = 0  # for tests and metrics: connections opened

    def acquire(self, user: UpstreamUser) -> None:
        """Hand ``user`` a connection (now if one is idle) via ``upstream_ready``."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                user.upstream_ready(conn)
                return
        self.connect(user)

    def connect(self, user: UpstreamUser) -> None:
        task = self.loop.create_task(self._connect())

        def done(t: asyncio.Task[UpstreamConnection]) -> None:
            if t.cancelled():
                user.upstream_failed(UpstreamUnavailable, None)
                return
            exc = t.exception()
            if exc is None:
                user.upstream_ready(t.result())
            elif isinstance(exc, GatewayError):
                user.upstream_failed(type(exc), None)
            else:
                user.upstream_failed(UpstreamUnavailable, None)

        task.add_done_callback(done)

    async def _connect(self) -> UpstreamConnection:
        conn = UpstreamConnection(self)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: conn,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            log.warning("upstream %s: connect timed out after %.1fs", self.name, self.connect_timeout)
            raise UpstreamTimeout() from None
        except ssl.SSLCertVerificationError as e:
            log.warning("upstream %s: TLS verification failed (%s)", self.name, e.verify_message)
            raise UpstreamTlsError() from None
        except ssl.SSLError as e:
            log.warning("upstream %s: TLS handshake failed (%s)", self.name, e.reason)
            raise UpstreamTlsError() from None
        except OSError as e:
            log.warning("upstream %s: cannot connect (%s)", self.name, e.strerror or type(e).__name__)
            raise UpstreamUnavailable() from None
        self.connects += 1
        self.all.add(conn)
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed:
            return
        if conn.held is not None:  # a request never sent: the connection's state is unknown
            conn.held = None
            conn.close()
            return
        if not conn.reusable or self.closing or len(self.idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = 0.0  # stamped by the next sweep: no clock read per request
        self.idle.append(conn)

    def _forget(self, conn: UpstreamConnection) -> None:
        self.all.discard(conn)
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def sweep(self, now: float) -> None:
        """Close idle connections past their idle timeout."""
        if self.idle:
            keep = []
            for c in self.idle:
                if not c.idle_since:
                    c.idle_since = now
                if now - c.idle_since > self.idle_timeout or c.closed:
                    c.close()
                else:
                    keep.append(c)
            self.idle = keep

    def close(self) -> None:
        """Stop pooling; close idle connections now, busy ones when their response ends."""
        self.closing = True
        for c in self.idle:
            c.close()
        self.idle = []


def default_factory(loop: asyncio.AbstractEventLoop) -> Callable[[str, Upstream], UpstreamPool]:
    return lambda name, cfg: UpstreamPool(name, cfg, loop)
