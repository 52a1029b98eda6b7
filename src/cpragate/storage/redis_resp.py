"""A small RESP2 client on an asyncio Protocol, for the Redis calls on the request path.

Why not redis-py there (measured, bench/AUTH_RESULTS.md): its asyncio client checks a
connection out of a pool, builds a command object, and — because the data plane steps
filter coroutines outside a Task until they suspend — needed a ``Task`` per call for
its timeouts. That cost ≈ 150–200 CPU-µs per rate-limited request against a target of 20.
This client costs a few µs because:

* **one persistent connection, pipelined**: commands of concurrent requests are written
  back to back (one ``write`` per loop iteration for all of them) and replies are
  matched to callers in order (RESP guarantees replies in command order);
* **one await per call**: ``call()`` returns a Future that the Protocol resolves when
  the reply is parsed; no Task, no pool checkout;
* **timeouts without a Task**: one timer per connection watches the oldest outstanding
  command; when it is older than the timeout the connection is declared dead, closed,
  and every waiter gets ``StorageError`` (a reply that is late for one is late for all
  commands behind it on the same connection);
* **scripts by SHA**: ``EVALSHA``; a ``NOSCRIPT`` reply (the server restarted or ran
  ``SCRIPT FLUSH``) resends the same request as ``EVAL`` (which also caches the script)
  under the same Future, so the caller still awaits once;
* **reconnect with backoff**: after a failed connect, calls fail at once with
  ``StorageError`` until the backoff (50 ms doubling to 1 s) has passed; the next call
  after that reconnects. A request never waits on a dead Redis longer than the timeout.

Every failure reaches the caller as ``StorageError`` (connection refused, reset, timeout,
an error reply); the filters' ``on_error`` decides what happens then.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cpragate.errors import StorageError

__all__ = ["RespClient", "RespError", "Script", "encode_command", "encode_evalsha", "parse_reply"]

Reply = Any
"""None, int, bytes, a RespError, or a list of those (RESP2)."""


class RespError(StorageError):
    """An error reply from the server (``-ERR …``)."""


class _Incomplete(Exception):
    pass


_INCOMPLETE = _Incomplete()


Arg = bytes | str | int | float


def _bulks(args: tuple[Arg, ...]) -> bytes:
    out = []
    for a in args:
        b = a if isinstance(a, bytes) else a.encode("utf-8") if isinstance(a, str) else str(a).encode("ascii")
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


def encode_command(args: tuple[Arg, ...]) -> bytes:
    """A RESP array of bulk strings."""
    return b"*%d\r\n" % len(args) + _bulks(args)


def encode_evalsha(script: Script, keys: tuple[str, ...], args: tuple[Arg, ...]) -> tuple[bytes, bytes]:
    """``EVALSHA`` of ``script`` and the ``EVAL`` that replaces it on NOSCRIPT (built once, may be reused)."""
    head = b"*%d\r\n" % (3 + len(keys) + len(args))
    tail = _bulks((len(keys), *keys, *args))
    return (
        head + b"$7\r\nEVALSHA\r\n$40\r\n" + script.sha + b"\r\n" + tail,
        head + b"$4\r\nEVAL\r\n$%d\r\n%b\r\n" % (len(script.source), script.source) + tail,
    )


def parse_reply(buf: bytes | bytearray, pos: int) -> tuple[Reply, int]:
    """One reply starting at ``pos``: (value, position after it); raises _Incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _INCOMPLETE
    kind = buf[pos]
    if kind == 36:  # $ bulk string
        n = int(buf[pos + 1 : end])
        if n < 0:
            return None, end + 2
        stop = end + 2 + n
        if len(buf) < stop + 2:
            raise _INCOMPLETE
        return bytes(buf[end + 2 : stop]), stop + 2
    if kind == 58:  # : integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 42:  # * array
        n = int(buf[pos + 1 : end])
        if n < 0:
            return None, end + 2
        pos = end + 2
        items = []
        for _ in range(n):
            v, pos = parse_reply(buf, pos)
            items.append(v)
        return items, pos
    if kind == 43:  # + simple string
        return bytes(buf[pos + 1 : end]), end + 2
    if kind == 45:  # - error
        return RespError(bytes(buf[pos + 1 : end]).decode("utf-8", "replace")), end + 2
    raise StorageError(f"Redis protocol error (unexpected reply type {chr(kind)!r}).")


class Script:
    """A Lua script called by SHA, with its ``EVAL`` form for the NOSCRIPT fallback."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source.encode("utf-8")
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode("ascii")  # Redis names scripts by SHA-1


class _Pending:
    __slots__ = ("fallback", "future", "sent")

    def __init__(self, future: asyncio.Future[Reply], sent: float, fallback: bytes | None) -> None:
        self.future = future
        self.sent = sent
        self.fallback = fallback


class _Connection(asyncio.Protocol):
    """One connection: writes commands, parses replies, resolves the waiters in order."""

    def __init__(self, client: RespClient) -> None:
        self.client = client
        self.loop = client.loop
        self.transport: asyncio.Transport | None = None
        self.pending: deque[_Pending] = deque()
        self.buf = bytearray()
        self.wbuf: list[bytes] = []
        self.flush_scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    # --------------------------------------------------------------- writing

    def send(self, packed: bytes, fut: asyncio.Future[Reply], fallback: bytes | None) -> None:
        self.pending.append(_Pending(fut, self.loop.time(), fallback))
        self.wbuf.append(packed)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self.timer is None:
            self.timer = self.loop.call_later(self.client.timeout, self._check_timeout)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.closed or self.transport is None or not self.wbuf:
            return
        data = self.wbuf[0] if len(self.wbuf) == 1 else b"".join(self.wbuf)
        self.wbuf.clear()
        self.transport.write(data)

    def _check_timeout(self) -> None:
        self.timer = None
        if self.closed or not self.pending:
            return
        left = self.pending[0].sent + self.client.timeout - self.loop.time()
        if left <= 0:
            self.fail(StorageError("Redis did not answer in time."))
            return
        self.timer = self.loop.call_later(left, self._check_timeout)

    # --------------------------------------------------------------- protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is not an asyncio.Transport subclass)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data
        pos, size = 0, len(src)
        pending = self.pending
        try:
            while pos < size:
                try:
                    value, pos = parse_reply(src, pos)
                except _Incomplete:
                    break
                if not pending:
                    raise StorageError("Redis sent a reply nobody asked for.")
                p = pending.popleft()
                fut = p.future
                if isinstance(value, RespError):
                    if p.fallback is not None and value.detail.startswith("NOSCRIPT"):
                        self.send(p.fallback, fut, None)
                        continue
                    if not fut.done():
                        fut.set_exception(value)
                elif not fut.done():
                    fut.set_result(value)
        except (StorageError, ValueError) as e:  # a protocol error: this connection is unusable
            self.fail(e if isinstance(e, StorageError) else StorageError("Redis protocol error."))
            return
        if pos >= size:
            if buf:
                buf.clear()
        elif src is buf:
            del buf[:pos]
        else:
            self.buf = bytearray(memoryview(src)[pos:])

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(StorageError(f"Redis connection lost ({type(exc).__name__ if exc else 'closed'})."))

    def fail(self, err: StorageError) -> None:
        """Close the connection and fail every waiter; the client reconnects on a later call."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.client._lost(self)
        while self.pending:
            fut = self.pending.popleft().future
            if not fut.done():
                fut.set_exception(err)
        self.wbuf.clear()


class RespClient:
    """Pipelined RESP2 client for ``redis://`` / ``rediss://`` URLs (host, port, db, user, password)."""

    MIN_BACKOFF = 0.05
    MAX_BACKOFF = 1.0

    def __init__(self, url: str, timeout: float = 0.5, loop: asyncio.AbstractEventLoop | None = None) -> None:
        u = urlsplit(url)
        if u.scheme not in ("redis", "rediss"):
            raise StorageError(f"not a redis:// URL: {u.scheme}://")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 6379
        q = dict(parse_qsl(u.query))
        path = u.path.strip("/")
        self.db = int(path or q.get("db", "0") or 0)
        self.username = unquote(u.username) if u.username else None
        self.password = unquote(u.password) if u.password else None
        self.tls = u.scheme == "rediss"
        self.timeout = timeout
        self._loop = loop
        self.conn: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._waiting: list[tuple[bytes, asyncio.Future[Reply], bytes | None]] = []
        self._retry_at = float("-inf")
        self._backoff = self.MIN_BACKOFF
        self._scripts: dict[bytes, Script] = {}
        self.closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # --------------------------------------------------------------- calls

    def call(self, *args: Arg) -> asyncio.Future[Reply]:
        """Send one command; await the Future for its reply (an error reply raises RespError)."""
        return self.submit(encode_command(args), None)

    def register(self, script: Script) -> Script:
        """Load ``script`` on every (re)connect, so EVALSHA rarely meets NOSCRIPT."""
        self._scripts[script.sha] = script
        return script

    def evalsha(self, script: Script, keys: tuple[str, ...], args: tuple[Arg, ...]) -> asyncio.Future[Reply]:
        """Run ``script`` by SHA; on NOSCRIPT it is sent again as EVAL, same Future."""
        return self.submit(*encode_evalsha(script, keys, args))

    def submit(self, packed: bytes, fallback: bytes | None) -> asyncio.Future[Reply]:
        loop = self.loop
        fut: asyncio.Future[Reply] = loop.create_future()
        conn = self.conn
        if conn is not None:
            conn.send(packed, fut, fallback)
            return fut
        if self.closed:
            fut.set_exception(StorageError("Redis client is closed."))
            return fut
        if self._connecting is None:
            if loop.time() < self._retry_at:
                fut.set_exception(StorageError("Redis is unavailable (reconnecting)."))
                return fut
            self._connecting = loop.create_task(self._connect())
        self._waiting.append((packed, fut, fallback))
        return fut

    # --------------------------------------------------------------- connection

    async def connect(self) -> None:
        """Connect now (startup check): StorageError when Redis does not answer."""
        if self.conn is not None:
            return
        if self._connecting is None:
            self._connecting = self.loop.create_task(self._connect())
        await asyncio.shield(self._connecting)
        if self._current() is None:  # not ``self.conn``: narrowed to None above, and mypyc trusts that
            raise StorageError(f"Redis at {self.host}:{self.port} is not answering.")

    async def _connect(self) -> None:
        loop = self.loop
        conn = _Connection(self)
        try:
            ctx = ssl.create_default_context() if self.tls else None
            await asyncio.wait_for(
                loop.create_connection(lambda: conn, self.host, self.port, ssl=ctx,
                                       server_hostname=self.host if ctx else None),
                self.timeout,
            )
            hello: list[asyncio.Future[Reply]] = []
            for cmd in self._handshake():
                f: asyncio.Future[Reply] = loop.create_future()
                conn.send(cmd, f, None)
                hello.append(f)
            await asyncio.wait_for(asyncio.gather(*hello), self.timeout)
        except (OSError, TimeoutError, StorageError, ssl.SSLError) as e:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.abort()
            if conn.timer is not None:
                conn.timer.cancel()
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * 2, self.MAX_BACKOFF)
            err = e if isinstance(e, StorageError) else StorageError(f"Redis connection failed ({type(e).__name__}).")
            waiting, self._waiting = self._waiting, []
            for _, fut, _ in waiting:
                if not fut.done():
                    fut.set_exception(err)
            return
        finally:
            self._connecting = None
        if self.closed:
            conn.fail(StorageError("Redis client is closed."))
            return
        self._backoff = self.MIN_BACKOFF
        self.conn = conn
        waiting, self._waiting = self._waiting, []
        for packed, fut, fallback in waiting:
            if not fut.done():
                conn.send(packed, fut, fallback)

    def _current(self) -> _Connection | None:
        return self.conn

    def _handshake(self) -> list[bytes]:
        out = []
        if self.password is not None:
            out.append(encode_command(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)))
        if self.db:
            out.append(encode_command(("SELECT", self.db)))
        out.extend(encode_command(("SCRIPT", "LOAD", s.source)) for s in self._scripts.values())
        out.append(encode_command(("PING",)))
        return out

    def _lost(self, conn: _Connection) -> None:
        if self.conn is conn:
            self.conn = None

    async def aclose(self) -> None:
        self.closed = True
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.fail(StorageError("Redis client is closed."))
        task = self._connecting
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # its waiters are failed below
        waiting, self._waiting = self._waiting, []
        for _, fut, _ in waiting:
            if not fut.done():
                fut.set_exception(StorageError("Redis client is closed."))

