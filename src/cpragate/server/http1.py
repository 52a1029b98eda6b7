"""Client-side HTTP/1.1: one Protocol per connection, one Cycle per request.

Theory of operation:

* ``ClientConnection`` feeds bytes to llhttp (``server/h1parse.py``: one call per head
  from the C binding ``_h1``, or httptools in pure Python), which is strict: conflicting
  framing headers, bare LF, obsolete folding and bad chunk sizes are errors, answered
  400 with the connection closed.
* Each parsed request becomes a ``Cycle``. Cycles run strictly one after another per
  connection (HTTP/1.1 pipelining is honoured by queueing, bounded, with reads paused).
* A Cycle routes the canonical path, runs the route's request phase, gets a pooled
  upstream connection, forwards the head and streams (or, when a filter declared it,
  buffers up to the route's limit) the body; then does the same for the response,
  running the response phase on the head (or on the whole body when declared).
* Gateway-made answers are problem+json responses from ``core.problem`` and go through
  the response phase of the filters that saw the request (security headers, CORS).
* Once the first response byte is written, a failure can only abort the connection.
* The complete phase runs after the response was handed to the transport.
* Flow control: a full upstream socket pauses reading from the client and vice versa,
  so a 1 GiB body streams through in constant memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from cpragate.core.exchange import Exchange, TlsInfo
from cpragate.core.filter import ResponseStream
from cpragate.core.ids import accept_request_id
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.normalize import PathRefused, normalize_path
from cpragate.core.pipeline import Pipeline
from cpragate.core.problem import problem_response
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Respond, Verdict
from cpragate.errors import (
    BadPath,
    BadRequest,
    BodyTooLarge,
    GatewayError,
    HeaderTooLarge,
    MethodNotAllowed,
    NotRouted,
    UninspectableBody,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from cpragate.server.eager import run_eager
from cpragate.server.h1parse import HeadTooLarge, ParseError, parsers
from cpragate.server.tls import tls_info
from cpragate.server.upstream import UpstreamConnection, closed_feed
from cpragate.server.wire import HOP_BY_HOP, JOIN_HEAD, connection_tokens, decode_body, response_head

if TYPE_CHECKING:
    from cpragate.server.gateway import ListenerRuntime, Runtime

__all__ = ["ClientConnection", "Cycle"]

log = logging.getLogger("cpragate.http")
access = logging.getLogger("cpragate.access")

_MAX_QUEUED: Final = 8  # pipelined requests parsed ahead of the one being answered
# Request headers the data plane itself needs; captured while parsing so the hot path
# never scans the header list for them.
_SPECIAL_REQ: Final = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"x-request-id",
        b"host",
        b"connection",
        b"x-forwarded-for",
        b"origin",
        b"content-encoding",
    }
)
_SKIP_REQ: Final = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"forwarded",
    b"x-real-ip",
    # Method-override headers never reach an upstream: with routing.method_override off
    # they are ignored, with it on the gateway has already applied them (see _OVERRIDE).
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
}
_OVERRIDE: Final = (b"x-http-method-override", b"x-http-method", b"x-method-override")

_SKIP_REQ_INSPECT: Final = _SKIP_REQ | {b"accept-encoding"}

_METHODS: Final = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
_ALLOWED: Final = frozenset(_METHODS.values())
_METHOD_BYTES: Final = {m: b for b, m in _METHODS.items()}
_UNIQUE_REQ: Final = frozenset({b"host"})  # RFC 9112 §3.2: a second Host is a bad request

RequestParser, _ = parsers()


# Cycle states (Final: compiled, each use is a constant, not a module-dict lookup)
_NEW: Final = 0
_BUFFER_REQ: Final = 1
_CONNECTING: Final = 2
_WAIT_HEAD: Final = 3
_STREAM_RESP: Final = 4
_BUFFER_RESP: Final = 5
_DONE: Final = 6
_STREAM_REWRITE: Final = 7


_BATCH_BYTES: Final = 64 * 1024
"""Collected client bytes up to this wait for the end of the loop's pass (``limits.batch_writes``),
and a forwarded request's head (with the body bytes at hand) up to this is held on its
upstream connection until then (``UpstreamConnection.send(..., hold=True)``); more are
written at once."""


def _total(out: list[bytes]) -> int:
    n = 0
    for b in out:
        n += len(b)
    return n


class ClientConnection(asyncio.BufferedProtocol):
    """One client connection (plain or TLS).

    A ``BufferedProtocol``: uvloop reads, and for TLS decrypts, straight into the
    gateway's read buffer and the parser reads it from there. As a plain ``Protocol``,
    uvloop's TLS layer allocated a 256 KiB ``bytes`` per ``SSLObject.read`` call (two per
    read event) and shrank it: heap churn that, with glibc's mmap threshold fixed, was
    two mmap/munmap pairs per read (41 -> 65 CPU-µs per TLS request), and with the
    dynamic threshold, the fragmentation behind the soak's RSS creep.
    """

    def __init__(self, listener: ListenerRuntime) -> None:
        self.listener = listener
        self.gateway = listener.gateway
        self.loop = listener.gateway.loop
        self.transport: asyncio.Transport | None = None
        lim = listener.gateway.runtime.cfg.limits
        self.parser = RequestParser(self, _SPECIAL_REQ, _UNIQUE_REQ, lim.max_header_bytes, lim.max_headers)
        # bound once: a call through it skips the method lookup of parser.feed_data per read
        self.feed: Callable[[bytes | memoryview], bool] = self.parser.feed_data
        self.peer_ip = "0.0.0.0"  # noqa: S104 - placeholder until connection_made
        self.peer_b = b"0.0.0.0"
        self.forwarded_proto = (
            b"\r\nx-forwarded-proto: " + listener.scheme.encode("ascii") + b"\r\nx-forwarded-host: "
        )
        self.peer_trusted = False
        self.tls: TlsInfo | None = None
        self.active: Cycle | None = None
        self.parsing: Cycle | None = None
        self.queue: deque[Cycle] = deque()
        self.requests = 0
        self.closing = False
        self.paused = False
        self.write_paused = False
        self.paused_at = 0.0
        self.closing_after = False  # the client half-closed: finish the current response, then close
        self.broken = False  # the byte stream failed to parse: nothing after it is read
        self.corked = False
        self.out: list[bytes] = []
        self.queued = False  # in the gateway's write batch (Gateway.queue_write): a later write goes out with it
        self.last_activity = self.loop.time()
        self.head_started: float | None = None
        self._rview: memoryview = listener.gateway.read_view

    # --- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        gw = self.gateway
        if len(gw.connections) >= gw.runtime.cfg.limits.max_connections or gw.draining:
            transport.abort()  # type: ignore[attr-defined]
            return
        gw.connections.add(self)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = peer[0]
            self.peer_b = self.peer_ip.encode("ascii")
            self.peer_trusted = gw.runtime.is_trusted(self.peer_ip)
        sslobj = transport.get_extra_info("ssl_object")
        if sslobj is not None:
            self.tls = tls_info(sslobj)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.gateway.connections.discard(self)
        if self.active is not None:
            self.active.client_gone()
        for c in self.queue:
            c.client_gone()
        self.queue.clear()
        # Reference cycles that only the cyclic GC would free, with the transport and a TLS
        # transport's buffers in them: the parser holds this connection (its callbacks) and
        # the connection the parser; uvloop's SSLProtocol keeps this connection's
        # get_buffer/buffer_updated, and the connection its TLS transport, which holds that
        # SSLProtocol. Under connection churn (the soak's hostile half, every connection
        # TLS) that garbage swung RssAnon by ~150 MB between two collections at a young
        # threshold of 50,000. Dropped here, the connection is freed by reference counting
        # when its last user (a cycle still finishing) lets go. Nothing parses or writes
        # after this (data_received returns on ``closing``; every write checks the transport).
        self.parser = None
        self.feed = closed_feed
        self.transport = None

    def get_buffer(self, sizehint: int) -> memoryview:
        # Shared by every connection of this loop: buffer_updated parses it at once,
        # and the parser's callbacks copy out what they keep (url, headers, body chunks).
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        self.last_activity = self.gateway.clock()
        if self.closing or self.broken:
            return
        self.corked = True
        try:
            if self.feed(data) and self.head_started is None:
                self.head_started = self.last_activity  # a head began in this read: time it
        except GatewayError as e:
            self._protocol_error(type(e))
        except HeadTooLarge:
            self._protocol_error(HeaderTooLarge)
        except ParseError:
            self._protocol_error(BadRequest)  # invalid HTTP, an upgrade, a second Host
        except Exception:
            log.exception("request head handling failed")
            self._protocol_error(BadRequest)
        finally:
            self.corked = False
            if self.out:
                self.uncork()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.paused_at = self.gateway.now
        if self.active is not None:
            self.active.client_pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active is not None:
            self.active.client_resume()

    def eof_received(self) -> bool | None:
        # A queued answer goes now: after the peer's EOF a TLS transport starts shutting
        # down, and writes made later are dropped (a request and close_notify in one read).
        if self.queued:
            self.flush_out()
        # Half-close from the client: finish the current response, then close.
        if self.active is None:
            return False
        self.closing_after = True
        return True

    # --- parser callbacks (h1parse) -------------------------------------------------------
    def on_head(
        self,
        method: str,
        url: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        special: dict[bytes, bytes],
        version: str,
        keep_alive: bool,
        upgrade: bool,
    ) -> None:
        self.head_started = None
        self.requests += 1
        rt = self.gateway.runtime
        if method not in _ALLOWED:
            raise MethodNotAllowed()  # TRACE, CONNECT, PRI, WebDAV...: nothing a route can serve
        if version != "1.1":
            if version != "1.0":
                raise BadRequest("HTTP version")  # 0.9 and "2.0" on an HTTP/1 connection
            if b"transfer-encoding" in special:
                raise BadRequest("Transfer-Encoding in HTTP/1.0")  # RFC 9112 §6.1: faulty framing
        elif b"host" not in special:
            raise BadRequest("no Host header")  # RFC 9112 §3.2
        if upgrade:
            raise BadRequest("protocol upgrade")  # never tunnelled: nothing after it could be checked
        headers = Headers._from_lowered(raw_headers)
        override_error = False
        if rt.method_override and method == "POST":
            # Route, check and forward the overriding method, so its rule is the one applied.
            for name in _OVERRIDE:
                ov = headers.get(name)
                if ov is not None:
                    m_ov = _METHODS.get(ov.strip().upper())
                    if m_ov is None:
                        override_error = True
                    else:
                        method = m_ov
                    break
        q = url.find(b"?")
        if q < 0:
            raw_path, query = url, b""
        else:
            raw_path, query = url[:q], url[q + 1 :]
        req = Request(method, raw_path, "", query, headers, None, version)
        rid = None
        if special:
            if b"x-request-id" in special:
                rid = accept_request_id(special[b"x-request-id"])
        if rid is None:
            rid = self.gateway.ids.next_id()
        ex = Exchange(
            req,
            rid,
            self._client_ip(headers) if self.peer_trusted else self.peer_ip,
            self.peer_ip,
            self.listener.scheme,
            self.tls,
            None,
            None,
            self.last_activity,
        )
        keep_alive = keep_alive and self.requests < rt.keepalive_requests and not self.gateway.draining
        cycle = Cycle(self, rt, ex, keep_alive, special)
        self.parsing = cycle
        error: type[GatewayError] | None = BadRequest if override_error else None
        try:
            req.path = path = normalize_path(raw_path, allow_semicolon=rt.allow_semicolon)
        except PathRefused as e:
            log.info("request %s refused: %s", rid, e.reason)
            error = BadPath
        else:
            if self.listener.redirect_to is not None:
                cycle.redirect = True
            elif error is None:
                route_method = method
                if method == "OPTIONS":
                    acrm = headers.get(b"access-control-request-method")
                    if acrm is not None and b"origin" in special:
                        route_method = acrm.decode("latin-1").upper()
                m = rt.router.match(route_method, path)
                if m is None:
                    error = NotRouted
                elif m is False:
                    error = MethodNotAllowed
                else:
                    ex.route = m.payload
                    ex.params = m.params
        if error is not None:
            cycle.routing_error = error
        if self.active is None:
            self.active = cycle
            cycle.start()
        else:
            self.queue.append(cycle)
            if len(self.queue) >= _MAX_QUEUED:
                self.pause_reading()

    def on_body(self, body: bytes) -> None:
        c = self.parsing
        if c is not None:
            c.ex.bytes_in += len(body)
            c.client_body(body)

    def on_message_complete(self) -> None:
        c = self.parsing
        self.parsing = None
        if c is not None:
            c.client_body_done()

    # --- helpers ----------------------------------------------------------------------
    def _client_ip(self, headers: Headers) -> str:
        if not self.peer_trusted:
            return self.peer_ip
        xff = headers.get_all(b"x-forwarded-for")
        if not xff:
            return self.peer_ip
        hops = [h.strip().decode("latin-1") for v in xff for h in v.split(b",")]
        rt = self.gateway.runtime
        for h in reversed(hops):
            try:
                ipaddress.ip_address(h)
            except ValueError:
                return self.peer_ip  # garbage in the chain: trust nothing in it
            if not rt.is_trusted(h):
                return h
        return hops[0] if hops else self.peer_ip

    def pause_reading(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.paused and self.transport is not None and not self.closing:
            self.paused = False
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.corked:
            self.out.append(data)
        elif self.queued:  # a stream's write behind a queued answer: both go now, in order
            self.out.append(data)
            self.flush_out()
        elif self.transport is not None and not self.closing:
            self.transport.write(data)

    def cork(self) -> None:
        """Collect writes until ``uncork``: one upstream read becomes one client write.

        Head and body of a small response otherwise go out in two syscalls, and on
        loopback each write costs about as much as all of the gateway's Python work.
        """
        self.corked = True

    def uncork(self) -> None:
        self.corked = False
        out = self.out
        if out:
            gw = self.gateway
            if gw.batch_writes and _total(out) <= _BATCH_BYTES:
                if not self.queued:
                    self.queued = True
                    gw.queue_write(self)
            else:
                # Large (a big body, or a stream's reads piling up within one pass): now, so
                # that the transport's back-pressure (pause_writing) still stops the upstream.
                self.flush_out()

    def flush_out(self) -> None:
        """Write what is collected now (the batch's flush, a close, an abort, the peer's EOF)."""
        self.queued = False
        out = self.out
        if out:
            self.out = []
            if self.transport is not None and not self.closing:
                if len(out) == 1:
                    self.transport.write(out[0])
                elif len(out[-1]) > 16384:
                    # One writev: a large body is not copied into a joined buffer first.
                    self.transport.writelines(out)
                else:
                    self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None and not self.closing:
            self.corked = False
            self.flush_out()
            self.closing = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            # What this pass queued (a complete earlier pipelined answer, a stream's chunks)
            # goes first, as it did when every answer was written at once.
            self.corked = False
            self.flush_out()
            self.closing = True
            self.transport.abort()

    def _protocol_error(self, error: type[GatewayError]) -> None:
        """Malformed or oversized input: answer if nothing is in flight, then close."""
        c = self.parsing
        # Only where no filter phase is in flight: before the request phase (buffering) or after it.
        if c is not None and c is self.active and c.state in (_BUFFER_REQ, _CONNECTING, _WAIT_HEAD):
            # The request's own body broke (bad chunk size, invalid framing detected after the
            # head): that request is refused with 400 (its partial upstream dropped, its audit
            # event written), then the connection closes; nothing after it is parsed.
            self.broken = True
            self.parsing = None
            self.queue.clear()
            if self.transport is not None:
                self.transport.pause_reading()
            log.info(
                "connection from %s: %s in the body of request %s", self.peer_ip, error.code, c.ex.request_id
            )
            c.keep_alive = False
            c.refuse(error, rule="protocol")
            return
        rid = self.gateway.ids.next_id()
        if self.active is None and self.transport is not None and not self.closing:
            resp = problem_response(error, rid)
            self.gateway.runtime.finalize_refusal(resp, self.listener.scheme)
            self.write(
                response_head(
                    resp.status,
                    resp.headers,
                    content_length=len(resp.body or b""),
                    chunked=False,
                    close=True,
                    request_id=rid.encode(),
                    date=self.gateway.date,
                )
                + (resp.body or b"")
            )
        log.info("connection from %s closed: %s (request %s)", self.peer_ip, error.code, rid)
        self.close()

    def cycle_finished(self, cycle: Cycle, close: bool) -> None:
        self.active = None
        self.last_activity = self.gateway.now
        if close or self.closing_after or self.gateway.draining:
            self.close()
            return
        if self.queue:
            nxt = self.queue.popleft()
            self.active = nxt
            self.resume_reading()
            nxt.start()
        else:
            self.resume_reading()

    def sweep(self, now: float, lim: Any) -> None:
        """Called periodically by the gateway: enforce client-side timeouts."""
        if self.closing:
            return
        if self.write_paused and now - self.paused_at > lim.send_timeout:
            log.info("client %s did not read the response for %.0fs: aborted", self.peer_ip, lim.send_timeout)
            if self.active is not None:
                self.active.ex.outcome = "aborted"
            self.abort()
            return
        c = self.active
        if c is None:
            if self.head_started is not None:
                if now - self.head_started > lim.header_timeout:
                    self._protocol_error(_RequestTimeout)
            elif now - self.last_activity > lim.idle_timeout:
                self.close()
            return
        c.sweep(now, lim)


class _RequestTimeout(GatewayError):
    code = "CPG-HTTP-006"
    title = "The client did not send the request in time."
    fix = "Send the request head and body without long pauses (see limits.header_timeout/body_timeout)."
    status = 408


class Cycle:
    """One request/response exchange on a client connection.

    Attributes that most requests never change live on the class as defaults, so a
    cycle costs a handful of stores to create (this runs for every request).
    """

    # defaults; assigned per instance only when they change
    route: RouteInfo | None = None
    pipeline: Pipeline | None = None
    routing_error: type[GatewayError] | None = None
    redirect = False
    req_chunked = False
    req_length: int | None = 0
    expect_continue = False
    client_done = False
    # lists are created per instance on first use (never mutate a class default)
    body_chunks: list[bytes] | None = None
    body_size = 0
    pending: list[bytes] | None = None
    stream_req = False
    up: UpstreamConnection | None = None
    up_deadline = 0.0
    resp_chunked = False
    resp_chunks: list[bytes] | None = None
    resp_size = 0
    resp_encoding: bytes | None = None
    resp_started = False
    resp_stream: ResponseStream | None = None
    """A filter's rewriter for a response too large to buffer (state _STREAM_REWRITE)."""
    stream_ended = False
    head_ready = False
    retried = False
    uninspected = False
    has_body = False
    """The request has a body (Content-Length > 0 or chunked)."""

    def __init__(
        self, conn: ClientConnection, rt: Runtime, ex: Exchange, keep_alive: bool, special: dict[bytes, bytes]
    ) -> None:
        self.conn = conn
        self.rt = rt
        self.ex = ex
        self.rid = ex.request_id.encode("ascii")
        self.keep_alive = keep_alive
        self.state = _NEW
        self.special = special
        if special:
            te = special.get(b"transfer-encoding")
            cl = special.get(b"content-length")
            if te is not None:
                self.req_chunked = True
                self.req_length = None
                self.has_body = True
            elif cl is not None:
                self.req_length = n = int(cl)
                if n > 0:
                    self.has_body = True
            exp = special.get(b"expect")
            if exp is not None and exp.lower() == b"100-continue":
                self.expect_continue = True

    # --- request side -------------------------------------------------------------------
    def start(self) -> None:
        if self.routing_error is not None:
            self.refuse(self.routing_error, rule="routing")
            return
        if self.redirect:
            self._redirect()
            return
        route = self.ex.route
        assert route is not None and route.pipeline is not None
        self.route = route
        self.pipeline = pipe = route.pipeline
        if pipe.needs_request_body and self.has_body:
            if self.req_length is not None and self.req_length > route.max_body_bytes:
                if route.on_body_too_large == "deny":
                    self.refuse(BodyTooLarge, rule="max_body_bytes")
                    return
                self._uninspected("request")
            else:
                self.state = _BUFFER_REQ
                if self.pending:  # body that arrived while this request was queued
                    self.body_chunks, self.pending = self.pending, None
                    if self.body_size > route.max_body_bytes:
                        self.refuse(BodyTooLarge, rule="max_body_bytes")
                        return
                    self.conn.resume_reading()
                if self.expect_continue:
                    self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if self.client_done:
                    self._request_phase()
                return
        if pipe.request_filters:
            self._request_phase()
        else:
            self._go_upstream()

    def _request_phase(self) -> None:
        assert self.pipeline is not None
        if self.state == _BUFFER_REQ:
            body = b"".join(self.body_chunks or ())
            self.body_chunks = None
            coding = self.ex.request.headers.get(b"content-encoding")
            try:
                body = decode_body(body, coding, self.route.max_body_bytes)  # type: ignore[union-attr]
            except (UninspectableBody, BodyTooLarge) as e:
                self.refuse(type(e), rule="request-body")
                return
            if coding is not None:
                self.ex.request.headers.remove(b"content-encoding")
            self.ex.request.body = body
        v = self.pipeline.request_now(self.ex)
        if v is not None:  # every filter decided at once: no coroutine, no Task
            self._after_request_phase(v, None)
        else:
            run_eager(self.pipeline.run_request(self.ex, True), self._after_request_phase, self.conn.loop)

    def _response_phase(
        self, pipe: Pipeline, after: Callable[[Verdict | None, BaseException | None], None]
    ) -> None:
        v = pipe.response_now(self.ex)
        if v is not None:  # every filter decided at once: no coroutine, no Task
            after(v, None)
        else:
            run_eager(pipe.run_response(self.ex), after, self.conn.loop)

    def _after_request_phase(self, v: Verdict | None, exc: BaseException | None) -> None:
        if self.state == _DONE:
            return
        if exc is not None:
            log.error("request phase failed (request %s)", self.ex.request_id, exc_info=exc)
            self.refuse(UpstreamError, rule="pipeline")
            return
        if v is CONTINUE:
            self._go_upstream()
        elif isinstance(v, Deny):
            self.refuse(v.error, status=v.status, rule=v.rule, headers=v.headers, violations=v.violations)
        elif isinstance(v, Respond):
            self.ex.outcome = "served"
            self._local_response(v.response)

    def client_body(self, chunk: bytes) -> None:
        st = self.state
        if st == _DONE:
            return
        if st == _BUFFER_REQ:
            self.body_size += len(chunk)
            assert self.route is not None
            if self.body_size > self.route.max_body_bytes:
                self.refuse(BodyTooLarge, rule="max_body_bytes")
                return
            if self.body_chunks is None:
                self.body_chunks = []
            self.body_chunks.append(chunk)
            return
        up = self.up
        if up is not None and self.stream_req:
            up.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.req_chunked else chunk)
            # The upstream answers after the body: client progress keeps the deadline fresh.
            self.up_deadline = self.conn.gateway.now + self.route.read_timeout  # type: ignore[union-attr]
        else:
            # Not started yet (queued behind a pipelined request) or not connected:
            # keep the raw bytes; they are framed, or buffered for inspection, later.
            if self.pending is None:
                self.pending = []
            self.pending.append(chunk)
            self.body_size += len(chunk)
            if self.body_size > 256 * 1024:
                self.conn.pause_reading()

    def client_body_done(self) -> None:
        self.client_done = True
        if self.state == _BUFFER_REQ:
            self._request_phase()
            return
        if self.req_chunked and self.state != _DONE and self.up is not None and self.stream_req:
            self.up.write(b"0\r\n\r\n")
        # otherwise the terminator is written when the pending body is flushed

    def _pending_wire(self) -> bytes:
        """The body received before the upstream was ready, framed for the upstream."""
        pending = self.pending or ()
        self.pending = None
        self.body_size = 0
        if not self.req_chunked:
            return b"".join(pending)
        out = [b"%x\r\n%s\r\n" % (len(c), c) for c in pending if c]
        if self.client_done:
            out.append(b"0\r\n\r\n")
        return b"".join(out)

    def _go_upstream(self) -> None:
        self.state = _CONNECTING
        if self.expect_continue and self.has_body and not self.client_done:
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        route = self.route
        assert route is not None
        self.up_deadline = self.conn.gateway.now + route.connect_timeout
        pool = self.rt.pools[route.upstream]
        idle = pool.idle  # inlined pool.acquire(): this runs for every request
        while idle:
            up = idle.pop()
            if not up.closed:
                self.upstream_ready(up)
                return
        pool.connect(self)

    def _upstream_head_bytes(self, conn: UpstreamConnection) -> bytes:
        ex = self.ex
        req = ex.request
        pool = conn.pool
        h = req.headers
        special = self.special
        method = req.method
        host = (special.get(b"host") or pool.host_header) if pool.preserve_host else pool.host_header
        skip = _SKIP_REQ
        accept = b"\r\n"
        if self.pipeline is not None and self.pipeline.needs_response_body:
            # The response will be inspected: ask for it uncompressed (gzip/deflate that
            # arrive anyway are decoded with the route's limit; other codings are refused).
            skip = _SKIP_REQ_INSPECT
            accept = b"\r\naccept-encoding: identity\r\n"
        mb = _METHOD_BYTES.get(method) or method.encode("ascii")
        path = req.path.encode("ascii")
        if req.query:
            head: tuple[bytes | int, ...] = (
                mb, b" ", pool.prefix, path, b"?", req.query, b" HTTP/1.1\r\nhost: ", host, accept
            )
        else:
            head = (mb, b" ", pool.prefix, path, b" HTTP/1.1\r\nhost: ", host, accept)
        extra = connection_tokens(h) if b"connection" in special else None
        client = self.conn
        xff = client.peer_b
        if client.peer_trusted and b"x-forwarded-for" in special:
            xff = b", ".join(h.get_all(b"x-forwarded-for")) + b", " + xff
        body = req.body
        cl_name = b""
        cl: bytes | int = b""
        end = b"\r\n\r\n"
        if body is not None:
            cl_name, cl = b"\r\ncontent-length: ", len(body)
        else:
            body = b""
            if self.req_chunked:
                end = b"\r\ntransfer-encoding: chunked\r\n\r\n"
            elif self.req_length:
                cl_name, cl = b"\r\ncontent-length: ", self.req_length
            elif method == "POST" or method == "PUT" or method == "PATCH":
                cl_name, cl = b"\r\ncontent-length: ", 0
        tail: tuple[bytes | int, ...] = (
            b"x-forwarded-for: ",
            xff,
            client.forwarded_proto,
            special.get(b"host", b""),
            b"\r\nx-request-id: ",
            self.rid,
            cl_name,
            cl,
            end,
            body,
        )
        return JOIN_HEAD(head, h._items, skip, extra or None, tail)

    # --- UpstreamUser ---------------------------------------------------------------------
    def upstream_ready(self, conn: UpstreamConnection) -> None:
        if self.state != _CONNECTING:
            conn.pool.release(conn)  # the client left meanwhile; the connection is unused
            return
        self.up = conn
        head = self._upstream_head_bytes(conn)
        if self.ex.request.body is None and self.has_body:
            self.stream_req = True
            if self.pending or self.client_done:
                head += self._pending_wire()
                self.conn.resume_reading()
        # State first: a transport may deliver the answer from inside write().
        self.state = _WAIT_HEAD
        gw = self.conn.gateway
        self.up_deadline = gw.now + self.route.read_timeout  # type: ignore[union-attr]
        if gw.batch_writes and len(head) <= _BATCH_BYTES:
            conn.send(self, head, self.ex.request.method == "HEAD", True)
            gw.queue_send(conn)
        else:
            conn.send(self, head, self.ex.request.method == "HEAD")

    def upstream_failed(self, error: type[GatewayError], conn: UpstreamConnection | None) -> None:
        if self.state == _DONE:
            return
        if (
            conn is not None
            and conn.requests > 1
            and not conn.got_bytes
            and not self.retried
            and not self.has_body
            and self.state == _WAIT_HEAD
        ):
            # The keep-alive race: the upstream closed an idle connection as we reused it.
            self.retried = True
            self.up = None
            self.state = _CONNECTING
            conn.pool.connect(self)
            return
        self.up = None
        if self.resp_started:
            log.warning("upstream failed mid-response (request %s): %s", self.ex.request_id, error.code)
            self.ex.outcome = "aborted"
            self.ex.error_code = error.code
            self._finish(abort=True)
            return
        self.refuse(error, rule="upstream")

    def upstream_head(self, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None:
        if self.state != _WAIT_HEAD:
            return
        self.up_deadline = self.conn.gateway.now + self.route.read_timeout  # type: ignore[union-attr]
        resp = Response(status, Headers._from_lowered(headers))
        self.ex.response = resp
        assert self.pipeline is not None and self.route is not None
        no_body = self.ex.request.method == "HEAD" or status in (204, 304)
        if self.pipeline.needs_response_body and not no_body and not self.uninspected:
            cl = resp.headers.get(b"content-length")
            enc = resp.headers.get(b"content-encoding")
            if enc is not None and enc.strip().lower() not in (b"identity", b"gzip", b"x-gzip", b"deflate"):
                self._drop_upstream()
                self.refuse(UninspectableBody, status=502, rule="response-encoding")
                return
            if cl is not None and cl.isdigit() and int(cl) > self.route.max_body_bytes:
                if self._open_stream(enc):
                    return
                if self.route.on_body_too_large == "deny":
                    self._drop_upstream()
                    self.refuse(BodyTooLarge, status=502, rule="max_body_bytes")
                    return
                self._uninspected("response")
            else:
                self.state = _BUFFER_RESP
                self.resp_encoding = enc
                return
        self.state = _STREAM_RESP
        if self.pipeline.response_filters:
            self._response_phase(self.pipeline, self._after_stream_response_phase)
        else:
            self._send_stream_head()

    def _after_stream_response_phase(self, v: Verdict | None, exc: BaseException | None) -> None:
        if self.state == _DONE:
            return
        if exc is not None or (v is not CONTINUE and (isinstance(v, Deny) or isinstance(v, Respond))):
            self._drop_upstream()
            if isinstance(v, Respond):
                self._send_whole(v.response)
            elif isinstance(v, Deny):
                self._send_problem(v.error, v.status, v.headers)
                self.ex.outcome = "denied"
            else:
                self._send_problem(UpstreamError, None, ())
            return
        self._send_stream_head()

    def _send_stream_head(self) -> None:
        resp = self.ex.response
        assert resp is not None
        h = resp.headers
        no_body = self.ex.request.method == "HEAD" or resp.status in (204, 304)
        up = self.up
        if up is not None and not self.pipeline.response_filters:  # type: ignore[union-attr]
            cl_hdr = up.resp_cl
            te = up.resp_te
            has_conn = up.resp_conn
            known_date = True
            upstream_date = up.resp_date
        else:
            cl_hdr = h.get(b"content-length")
            te = h.get(b"transfer-encoding")
            has_conn = b"connection" in h
            known_date = False  # filters may have changed the headers: response_head looks
            upstream_date = None
        length: int | None = None
        chunked = False
        if self.conn.gateway.draining:
            self.keep_alive = False
        close = not self.keep_alive
        keep_len: bytes | None = None
        if no_body:
            keep_len = cl_hdr if resp.status not in (204, 304) or cl_hdr else None
            if resp.status == 204:
                keep_len = None
        elif cl_hdr is not None and te is None:
            length = int(cl_hdr)
        elif self.ex.request.http_version == "1.1":
            chunked = True
        else:
            close = True  # HTTP/1.0 client: the end of the body is the end of the connection
        self.resp_chunked = chunked
        self.keep_alive = not close
        self.resp_started = True
        self.conn.write(
            response_head(
                resp.status,
                h,
                content_length=length,
                chunked=chunked,
                close=close,
                request_id=self.rid,
                date=self.conn.gateway.date,
                keep_length_header=keep_len,
                has_connection=has_conn,
                known_date=known_date,
                upstream_date=upstream_date,
            )
        )
        if self.conn.write_paused and self.up is not None:
            self.up.pause_reading()

    def upstream_body(self, chunk: bytes) -> None:
        st = self.state
        self.up_deadline = self.conn.gateway.now + self.route.read_timeout  # type: ignore[union-attr]
        if st == _STREAM_RESP:
            self.ex.bytes_out += len(chunk)
            if self.resp_chunked:
                self.conn.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.conn.write(chunk)
        elif st == _BUFFER_RESP:
            self.resp_size += len(chunk)
            assert self.route is not None
            if self.resp_size > self.route.max_body_bytes:
                held = self.resp_chunks or []
                self.resp_chunks = None
                if self._open_stream(self.resp_encoding):
                    for c in (*held, chunk):
                        self._stream_body(c)
                    return
                self._drop_upstream()
                self.refuse(BodyTooLarge, status=502, rule="max_body_bytes")
                return
            if self.resp_chunks is None:
                self.resp_chunks = []
            self.resp_chunks.append(chunk)
        elif st == _STREAM_REWRITE:
            self._stream_body(chunk)

    def upstream_done(self) -> None:
        st = self.state
        self.up = None
        if st == _STREAM_RESP:
            if self.resp_chunked:
                self.conn.write(b"0\r\n\r\n")
            self.ex.outcome = "served"
            self._finish()
        elif st == _BUFFER_RESP:
            resp = self.ex.response
            assert resp is not None and self.route is not None and self.pipeline is not None
            body = b"".join(self.resp_chunks or ())
            self.resp_chunks = None
            try:
                body = decode_body(body, self.resp_encoding, self.route.max_body_bytes)
            except (UninspectableBody, BodyTooLarge) as e:
                self.refuse(type(e), status=502, rule="response-body")
                return
            if self.resp_encoding is not None:
                resp.headers.remove(b"content-encoding")
            resp.headers.remove(b"content-length")
            resp.body = body
            self._response_phase(self.pipeline, self._after_buffered_response_phase)
        elif st == _STREAM_REWRITE:
            self._stream_end()
        elif st == _WAIT_HEAD:
            self.refuse(UpstreamError, rule="upstream")

    # --- a filter rewrites a response too large to buffer (off the hot path) ---------------
    def _open_stream(self, enc: bytes | None) -> bool:
        """Switch to _STREAM_REWRITE if the route's body reader can stream this response."""
        if enc is not None and enc.strip().lower() != b"identity":
            return False  # compressed: decoded only whole, with the route's limit
        assert self.pipeline is not None
        stream = self.pipeline.response_stream(self.ex)
        if stream is None:
            return False
        resp = self.ex.response
        assert resp is not None
        resp.headers.remove(b"content-length")
        resp.headers.remove(b"content-encoding")
        self.resp_stream = stream
        self.state = _STREAM_REWRITE
        self._response_phase(self.pipeline, self._after_rewrite_response_phase)
        return True

    def _after_rewrite_response_phase(self, v: Verdict | None, exc: BaseException | None) -> None:
        if self.state == _DONE:
            return
        if exc is not None or (v is not CONTINUE and (isinstance(v, Deny) or isinstance(v, Respond))):
            self._after_stream_response_phase(v, exc)  # the refusal paths are the same
            return
        # The head goes out with the first rewritten bytes: a refusal before them (a
        # blocked element in the first read, a body that is not an array) is still a 502.
        self.head_ready = True
        held, self.resp_chunks = self.resp_chunks, None
        for out in held or ():
            self._stream_write(out)
        if self.stream_ended:
            self._stream_end_sent()

    def _stream_body(self, chunk: bytes) -> None:
        if self.state != _STREAM_REWRITE or self.resp_stream is None:
            return  # refused meanwhile (by the response phase or the stream)
        try:
            out = self.resp_stream.feed(chunk)
        except GatewayError as e:
            self._stream_refused(e)
            return
        if out:
            self._stream_write(out)

    def _stream_write(self, out: bytes) -> None:
        if not self.resp_started:
            if not self.head_ready:  # the response phase has not finished: hold the output
                if self.resp_chunks is None:
                    self.resp_chunks = []
                self.resp_chunks.append(out)
                return
            self._send_stream_head()
        self.ex.bytes_out += len(out)
        self.conn.write(b"%x\r\n%s\r\n" % (len(out), out) if self.resp_chunked else out)

    def _stream_end(self) -> None:
        if self.resp_stream is None:
            return
        try:
            out = self.resp_stream.close()
        except GatewayError as e:
            self._stream_refused(e)
            return
        if out:
            self._stream_write(out)
        self.stream_ended = True
        if self.head_ready:
            self._stream_end_sent()

    def _stream_end_sent(self) -> None:
        if not self.resp_started:
            self._send_stream_head()
        if self.resp_chunked:
            self.conn.write(b"0\r\n\r\n")
        self.ex.outcome = "served"
        self._finish()

    def _stream_refused(self, e: GatewayError) -> None:
        """The stream refused the response: a problem if nothing was sent, else abort."""
        self.ex.outcome = "denied"
        self.ex.error_code = e.code
        self.resp_chunks = None
        if self.resp_started:
            log.warning(
                "response refused mid-stream, connection aborted (request %s): %s", self.ex.request_id, e.code
            )
            self._finish(abort=True)
        else:
            self._drop_upstream()
            self._send_problem(type(e), None, ())

    def _after_buffered_response_phase(self, v: Verdict | None, exc: BaseException | None) -> None:
        if self.state == _DONE:
            return
        if exc is not None:
            self._send_problem(UpstreamError, None, ())
        elif isinstance(v, Deny):
            self.ex.outcome = "denied"
            self._send_problem(v.error, v.status, v.headers)
        elif isinstance(v, Respond):
            self._send_whole(v.response)
        else:
            resp = self.ex.response
            assert resp is not None
            self.ex.outcome = "served"
            self._send_whole(resp)

    def upstream_pause(self) -> None:
        self.conn.pause_reading()

    def upstream_resume(self) -> None:
        self.conn.resume_reading()

    def client_pause(self) -> None:
        if self.up is not None:
            self.up.pause_reading()

    def client_resume(self) -> None:
        if self.up is not None:
            self.up.resume_reading()

    # --- gateway-made answers -------------------------------------------------------------
    def refuse(
        self,
        error: type[GatewayError],
        *,
        status: int | None = None,
        rule: str = "",
        headers: tuple[tuple[bytes, bytes], ...] = (),
        violations: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Answer with a problem response (through the response phase of the filters that ran)."""
        if self.state == _DONE:
            return
        self._drop_upstream()
        self.ex.outcome = "denied" if error.status < 500 else "error"
        self.ex.error_code = error.code
        if rule and not any(d.rule == rule for d in self.ex.decisions):
            self.ex.decide("gateway", "deny", rule)
        if not self.client_done and self.has_body:
            self.keep_alive = False  # we will not read the rest of the body
        if self.resp_started:
            self._finish(abort=True)
            return
        resp = problem_response(error, self.ex.request_id, status, headers, violations)
        self.ex.response = resp
        pipe = self.pipeline
        if pipe is None or self.ex.filters_seen == 0:
            # Refused before any filter ran: the edge filters (security headers, CORS) still apply.
            pipe = self.rt.fallback
            self.ex.filters_seen = len(pipe.filters)
        self.state = _BUFFER_RESP
        self._response_phase(pipe, self._after_refusal_phase)

    def _after_refusal_phase(self, v: Verdict | None, exc: BaseException | None) -> None:
        if exc is not None:
            log.error("response phase of a refusal failed (request %s)", self.ex.request_id, exc_info=exc)
        resp = self.ex.response
        assert resp is not None
        self._send_whole(resp)

    def _send_problem(
        self, error: type[GatewayError], status: int | None, headers: tuple[tuple[bytes, bytes], ...]
    ) -> None:
        self.ex.error_code = error.code
        resp = problem_response(error, self.ex.request_id, status, headers)
        self.rt.finalize_refusal(resp, self.ex.scheme, self.route)
        self.ex.response = resp
        self._send_whole(resp)

    def _local_response(self, resp: Response) -> None:
        self.ex.response = resp
        self.state = _BUFFER_RESP
        if not self.client_done and self.has_body:
            self.keep_alive = False
        assert self.pipeline is not None
        self._response_phase(self.pipeline, self._after_refusal_phase)

    def _redirect(self) -> None:
        base = self.conn.listener.redirect_to or b""
        req = self.ex.request
        loc = base + req.path.encode("ascii") + ((b"?" + req.query) if req.query else b"")
        resp = Response(
            308, Headers._from_lowered([(b"location", loc), (b"cache-control", b"no-store")]), b""
        )
        self.ex.outcome = "served"
        self.ex.response = resp
        self.rt.finalize_refusal(resp, self.ex.scheme, None)
        if not self.client_done and self.has_body:
            self.keep_alive = False
        self._send_whole(resp)

    def _send_whole(self, resp: Response) -> None:
        if self.state == _DONE:
            return
        body = resp.body or b""
        no_body = self.ex.request.method == "HEAD" or resp.status in (204, 304)
        self.resp_started = True
        if self.conn.gateway.draining:
            self.keep_alive = False
        close = not self.keep_alive
        self.conn.write(
            response_head(
                resp.status,
                resp.headers,
                content_length=None if resp.status in (204, 304) else len(body),
                chunked=False,
                close=close,
                request_id=self.rid,
                date=self.conn.gateway.date,
            )
            + (b"" if no_body else body)
        )
        self.ex.bytes_out += 0 if no_body else len(body)
        if self.ex.outcome == "pending":
            self.ex.outcome = "served"
        self._finish()

    def _uninspected(self, which: str) -> None:
        log.warning(
            "route %s: %s body larger than max_body_bytes passed UNINSPECTED (request %s)",
            self.route.name if self.route else "?",
            which,
            self.ex.request_id,
        )
        self.ex.decide("gateway", "uninspected", f"{which}-body-too-large")
        self.uninspected = True

    def _drop_upstream(self) -> None:
        up = self.up
        self.up = None
        if up is not None:
            up.detach()

    # --- end of cycle -----------------------------------------------------------------------
    def _finish(self, abort: bool = False) -> None:
        if self.state == _DONE:
            return
        self.state = _DONE
        ex = self.ex
        if abort:
            self._drop_upstream()
            self.conn.abort()
        gw = self.conn.gateway
        if gw.access_log and (gw.access_lines is not None or access.isEnabledFor(logging.INFO)):
            route = ex.route
            resp = ex.response
            # The duration in tenths of a millisecond, as an int: "12.3ms" from two int
            # conversions costs a fraction of a float format spec (the line's pieces are
            # joined without str.format, which a compiled f-string with a spec falls back to).
            # Half a tenth rounds up (":.1f" rounded exact ties to even); never below zero.
            tenths = max(0, int((self.conn.loop.time() - ex.started) * 10000.0 + 0.5))
            line = "".join((
                ex.request_id, " ", ex.client_ip, " ", ex.request.method, " ",
                route.template if route is not None else "-", " ",
                str(resp.status) if resp is not None else "0", " ",
                str(tenths // 10), ".", str(tenths % 10), "ms ",
                ex.outcome, _who(ex), _pi_summary(ex),
            ))
            lines = gw.access_lines
            if lines is not None:
                lines.add(line)  # batched (server/accesslog.py)
            else:
                access.info("%s", line)
        pipe = self.pipeline if self.pipeline is not None else self.rt.fallback
        if pipe.complete_filters:
            at = pipe.complete_now(ex)
            if at < len(pipe.complete_filters):
                run_eager(pipe.run_complete(ex, at), _log_complete_error, self.conn.loop)
        self.conn.cycle_finished(
            self, close=abort or not self.keep_alive or (not self.client_done and self.has_body)
        )

    def client_gone(self) -> None:
        """The client connection closed under us."""
        if self.state == _DONE:
            return
        if self.ex.outcome == "pending":
            self.ex.outcome = "aborted"
        self._drop_upstream()
        self.state = _DONE
        pipe = self.pipeline if self.pipeline is not None else self.rt.fallback
        if pipe.complete_filters:
            at = pipe.complete_now(self.ex)
            if at < len(pipe.complete_filters):
                run_eager(pipe.run_complete(self.ex, at), _log_complete_error, self.conn.loop)

    def sweep(self, now: float, lim: Any) -> None:
        st = self.state
        if st == _WAIT_HEAD and self.stream_req and not self.client_done:
            # A body still streaming to the upstream: a stalled client is the client's
            # timeout (408), not the upstream's (504).
            if now - self.conn.last_activity > lim.body_timeout:
                self.refuse(_RequestTimeout, rule="body-timeout")
            return
        if (
            st in (_CONNECTING, _WAIT_HEAD, _STREAM_RESP, _BUFFER_RESP, _STREAM_REWRITE)
            and self.up is not None
        ):
            if now > self.up_deadline and not self.conn.write_paused:
                log.warning("upstream timed out (request %s)", self.ex.request_id)
                if self.resp_started:
                    self.ex.outcome = "aborted"
                    self._finish(abort=True)
                else:
                    self.refuse(UpstreamTimeout, rule="upstream-timeout")
        elif st == _CONNECTING and now > self.up_deadline + 1.0:
            self.refuse(UpstreamUnavailable, rule="upstream-connect")
        elif st == _BUFFER_REQ and not self.client_done:
            if now - self.conn.last_activity > lim.body_timeout:
                self.keep_alive = False
                self.refuse(_RequestTimeout, rule="body-timeout")


def _who(ex: Exchange) -> str:
    """`` consumer=NAME`` for the access log (the consumer's configured name, never a credential)."""
    ident = ex.identity
    return f" consumer={ident.consumer}" if ident is not None else ""


_PI_SUMMARIES: dict[tuple[object, ...], str] = {}


class _LastSummary:
    """The last summary made, with the counts it was made of: a route answers the same
    shape over and over, and comparing two small dicts is cheaper than building the memo
    key (~1k against ~6k instructions)."""

    def __init__(self) -> None:
        self.spi: object = None
        self.cats: dict[object, object] = {}
        self.text = ""


_LAST_SUMMARY: Final = _LastSummary()


def _pi_summary(ex: Exchange) -> str:
    """`` pi=identifiers:3,financial:1 spi=2`` — CPRA categories served, counts only, never values.

    Memoized on (counts, spi): a route serves the same few shapes over and over, and
    sorting and formatting them cost ~13k instructions per logged request (bounded).
    """
    ann = getattr(ex, "pii", None)
    cats = getattr(ann, "categories", None)
    if not cats:
        return ""
    spi = getattr(ann, "spi", 0)
    last = _LAST_SUMMARY
    if spi == last.spi and cats == last.cats:
        return last.text
    key = (spi, *cats.items())
    hit = _PI_SUMMARIES.get(key)
    if hit is None:
        parts = ",".join(f"{c}:{n}" for c, n in sorted(cats.items()))
        hit = f" pi={parts} spi={spi}"
        if len(_PI_SUMMARIES) >= 4096:
            _PI_SUMMARIES.clear()
        _PI_SUMMARIES[key] = hit
    last.spi = spi
    last.cats = dict(cats)  # a copy: the exchange's dict is not ours to keep
    last.text = hit
    return hit


def _log_complete_error(_: object, exc: BaseException | None) -> None:
    if exc is not None:
        log.error("complete phase failed", exc_info=exc)
