"""End-to-end helpers: real sockets on 127.0.0.1, real TLS, real processes."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import pytest

from cpragate.config import load_config_text
from cpragate.core.filter import Filter
from cpragate.core.registry import builtin_filters
from cpragate.demo.certs import DevPki, ensure_dev_pki
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[bytes, list[bytes]]
    body: bytes
    chunked: bool = False

    def h(self, name: str) -> bytes | None:
        v = self.headers.get(name.lower().encode())
        return v[0] if v else None


class _RespParser:
    def __init__(self) -> None:
        self.p = httptools.HttpResponseParser(self)
        self.replies: list[Reply] = []
        self._h: dict[bytes, list[bytes]] = {}
        self._b: list[bytes] = []
        self.head_only = False

    def on_header(self, n: bytes, v: bytes) -> None:
        self._h.setdefault(n.lower(), []).append(v)

    def on_headers_complete(self) -> None:
        if self.head_only:
            self._done()
            self.p = httptools.HttpResponseParser(self)

    def on_body(self, b: bytes) -> None:
        self._b.append(b)

    def on_message_complete(self) -> None:
        self._done()

    def _done(self) -> None:
        chunked = b"chunked" in b"".join(self._h.get(b"transfer-encoding", []))
        self.replies.append(Reply(self.p.get_status_code(), self._h, b"".join(self._b), chunked))
        self._h, self._b = {}, []


OPEN_CLIENTS: list[Client] = []


async def close_clients() -> None:
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()


def run(coro: Any) -> Any:
    """Run a test coroutine on uvloop (the production loop), closing stray clients."""
    import uvloop

    async def wrapper() -> Any:
        try:
            return await coro
        finally:
            await close_clients()

    return uvloop.run(wrapper())


class Client:
    """A raw HTTP/1.1 client connection (keep-alive, pipelining, raw bytes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer
        self.parser = _RespParser()

    @classmethod
    async def open(cls, port: int, ssl_ctx: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Client:
        r, w = await asyncio.open_connection(host, port, ssl=ssl_ctx, server_hostname="localhost" if ssl_ctx else None, limit=1 << 20)
        c = cls(r, w)
        OPEN_CLIENTS.append(c)
        return c

    async def send_raw(self, data: bytes) -> None:
        self.w.write(data)
        await self.w.drain()

    async def read_replies(self, n: int = 1, timeout: float = 10, head_only: bool = False) -> list[Reply]:
        self.parser.head_only = head_only
        deadline = time.monotonic() + timeout
        while len(self.parser.replies) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply")
            data = await asyncio.wait_for(self.r.read(1 << 20), left)
            if not data:
                break
            self.parser.p.feed_data(data)
        out, self.parser.replies = self.parser.replies[:n], self.parser.replies[n:]
        return out

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"", timeout: float = 10) -> Reply:
        hs = {"host": "localhost", **(headers or {})}
        if body or method in ("POST", "PUT", "PATCH"):
            hs.setdefault("content-length", str(len(body)))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
        await self.send_raw(head.encode() + body)
        replies = await self.read_replies(1, timeout, head_only=(method == "HEAD"))
        if not replies:
            raise ConnectionError("connection closed without a reply")
        return replies[0]

    async def closed(self, timeout: float = 5) -> bool:
        try:
            data = await asyncio.wait_for(self.r.read(1), timeout)
        except (ConnectionError, ssl.SSLError):
            return True
        return data == b""

    async def close(self) -> None:
        if self in OPEN_CLIENTS:
            OPEN_CLIENTS.remove(self)
        self.w.close()
        if self.r.exception() is not None:
            # the peer reset the connection (a gateway that closes with unread bytes from us
            # sends RST): nothing left to wait for, and awaiting the close waiter would
            # re-raise that reset into the test's loop (seen flaky under uvloop)
            return
        try:
            await asyncio.wait_for(self.w.wait_closed(), 2)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass


def client_ssl(pki: DevPki, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(pki.path(f"{cert}.pem"), pki.path(f"{cert}-key.pem"))
    return ctx


def server_ssl(pki: DevPki, name: str = "api", require_client: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path(f"{name}.pem"), pki.path(f"{name}-key.pem"))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.path("ca.pem"))
    return ctx


@asynccontextmanager
async def gateway(
    config: str, extra_filters: dict[str, type[Filter]] | None = None, *, with_stores: bool = False, **env: str
) -> AsyncIterator[Gateway]:
    """An in-process gateway; ``with_stores``: its stores and audit trail opened as ``cpragate run``
    opens them (closed by ``stop``: the audit writer ships what is spooled)."""
    cfg = load_config_text(config, "test.yaml", env={**os.environ, **env})
    classes: dict[str, type[Filter]] | None = None
    if extra_filters:
        classes = {**builtin_filters(), **extra_filters}
    stores = await open_default_stores(cfg) if with_stores else None
    gw = Gateway(cfg, asyncio.get_running_loop(), filter_classes=classes, stores=stores)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop(drain_timeout=1)


@asynccontextmanager
async def origin(handler: Callable[..., Any], ssl_context: ssl.SSLContext | None = None, **kw: Any) -> AsyncIterator[OriginServer]:
    o = await OriginServer(handler, ssl_context=ssl_context, **kw).start()
    try:
        yield o
    finally:
        await o.close()


class _Canned(asyncio.Protocol):
    def __init__(self, reply: bytes, close: bool) -> None:
        self.reply, self.close, self.buf = reply, close, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            self.buf = b""
            self.t.write(self.reply)  # type: ignore[attr-defined]
            if self.close:
                self.t.close()


@asynccontextmanager
async def canned_upstream(reply: bytes, close: bool = True) -> AsyncIterator[int]:
    """An upstream that answers every request head with fixed raw bytes (malformed on purpose)."""
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: _Canned(reply, close), "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


def plain_config(upstream_port: int, routes: str | None = None, extra: str = "", scheme: str = "http") -> str:
    routes = routes or '  - {path: "/**", upstream: o, methods: ["*"]}\n'
    up = f'url: "{scheme}://127.0.0.1:{upstream_port}"' + (", allow_plaintext: true" if scheme == "http" else "")
    return f"""
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams:
  o: {{{up}}}
routes:
{routes}
storage: {{url: "memory://"}}
{"" if "state_dir:" in extra else f'state_dir: "{tempfile.mkdtemp(prefix="cpragate-e2e-state-")}"'}
{extra}
"""


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def hwm_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0


def start_cpragate(config_path: Path, port: int, *args: str, log: Path) -> Proc:
    with log.open("wb") as fh:  # the child keeps its own copy of the descriptor
        p = subprocess.Popen(
            [sys.executable, "-m", "cpragate", "run", "-c", str(config_path), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=config_path.parent,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"cpragate exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        p.kill()
        raise RuntimeError(f"cpragate did not start:\n{log.read_text()}")
    return Proc(p, log, port)


def stop_proc(p: Proc, timeout: float = 15) -> int:
    if p.proc.poll() is None:
        p.proc.terminate()
        try:
            return p.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
            return -9
    return p.proc.returncode
