"""Processes for real: SIGHUP reload, SIGTERM drain, --workers N, and RSS while streaming."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, free_port, origin, run, start_cpragate, stop_proc

pytestmark = pytest.mark.e2e


def cfg_text(port: int, up: int, routes: str, extra: str = "") -> str:
    return f"""
listeners: [{{bind: "127.0.0.1:{port}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{up}", allow_plaintext: true}}}}
routes:
{routes}
storage: {{url: "memory://"}}
limits: {{drain_timeout: 10}}
{extra}
"""


def ok(req: OriginRequest) -> OriginResponse:
    delay = 1.0 if req.request.raw_path == b"/slow" else 0.0
    return OriginResponse(200, [(b"content-type", b"application/json")], orjson.dumps({"path": req.request.raw_path.decode()}), delay=delay)


async def wait_log(p, needle: str, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while needle not in p.text():
        if time.monotonic() > deadline:
            raise AssertionError(f"log never said {needle!r}:\n{p.text()}")
        await asyncio.sleep(0.05)


def test_sighup_reload_good_and_bad_config_keeps_connections(tmp_path: Path) -> None:
    async def t() -> None:
        async with origin(ok) as o:
            port = free_port()
            cfg = tmp_path / "gw.yaml"
            cfg.write_text(cfg_text(port, o.port, '  - {path: "/a", upstream: o}\n'))
            p = start_cpragate(cfg, port, log=tmp_path / "log.txt")
            try:
                c = await Client.open(port)
                assert (await c.request("GET", "/a")).status == 200
                assert (await c.request("GET", "/b")).status == 404
                # good reload: /b appears; the same keep-alive connection keeps working
                cfg.write_text(cfg_text(port, o.port, '  - {path: "/a", upstream: o}\n  - {path: "/b", upstream: o}\n'))
                os.kill(p.proc.pid, signal.SIGHUP)
                await wait_log(p, "configuration reloaded")
                assert (await c.request("GET", "/b")).status == 200
                # bad reload: refused with its reasons, the old config keeps serving
                cfg.write_text(cfg_text(port, o.port, '  - {path: "/a", upstream: nope}\n'))
                os.kill(p.proc.pid, signal.SIGHUP)
                await wait_log(p, "CPG-CFG-004")
                assert "names upstream 'nope'" in p.text()
                assert (await c.request("GET", "/b")).status == 200
                assert p.proc.poll() is None
                await c.close()
            finally:
                assert stop_proc(p) == 0

    run(t())


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    async def t() -> None:
        async with origin(ok) as o:
            port = free_port()
            cfg = tmp_path / "gw.yaml"
            cfg.write_text(cfg_text(port, o.port, '  - {path: "/**", upstream: o}\n'))
            p = start_cpragate(cfg, port, log=tmp_path / "log.txt")
            c = await Client.open(port)
            pending = asyncio.ensure_future(c.request("GET", "/slow"))
            await asyncio.sleep(0.3)
            p.proc.send_signal(signal.SIGTERM)
            r = await pending
            assert r.status == 200 and r.h("connection") == b"close"
            code = await asyncio.get_running_loop().run_in_executor(None, p.proc.wait, 10)
            assert code == 0
            assert "draining" in p.text() and "stopped" in p.text()

    run(t())


def test_workers_share_the_port(tmp_path: Path) -> None:
    async def t() -> None:
        async with origin(ok) as o:
            port = free_port()
            cfg = tmp_path / "gw.yaml"
            cfg.write_text(cfg_text(port, o.port, '  - {path: "/**", upstream: o}\n'))
            p = start_cpragate(cfg, port, "--workers", "2", log=tmp_path / "log.txt")
            try:
                await wait_log(p, "started 2 workers")
                seen_pids: set[str] = set()
                for _ in range(400):  # the kernel spreads new connections by hash: until both answered
                    if len(seen_pids) == 2:
                        break
                    c = await Client.open(port)
                    r = await c.request("GET", "/w")
                    assert r.status == 200
                    seen_pids.add((r.h("x-request-id") or b"").decode().split("-")[0])
                    await c.close()
                assert len(seen_pids) == 2, "both workers should have served (distinct id prefixes)"
                children = Path(f"/proc/{p.proc.pid}/task/{p.proc.pid}/children").read_text().split()
                assert len(children) == 2
            finally:
                assert stop_proc(p) == 0

    run(t())


GIB = 1 << 30
CHUNK = b"x" * (256 * 1024)


def test_one_gib_streams_both_ways_in_bounded_memory(tmp_path: Path) -> None:
    async def big_stream() -> AsyncIterator[bytes]:
        for _ in range(GIB // len(CHUNK)):
            yield CHUNK

    def handler(req: OriginRequest) -> OriginResponse:
        if req.request.method == "GET":
            return OriginResponse(200, [(b"content-type", b"application/octet-stream")], stream=big_stream())
        return OriginResponse(200, [], b"%d" % o.body_bytes)

    async def t() -> None:
        nonlocal o
        async with origin(handler, discard_bodies=True) as o:
            port = free_port()
            cfg = tmp_path / "gw.yaml"
            cfg.write_text(cfg_text(port, o.port, '  - {path: "/**", upstream: o, methods: ["*"]}\n'))
            p = start_cpragate(cfg, port, log=tmp_path / "log.txt")
            try:
                base = p.rss_kb()
                # download 1 GiB
                r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
                w.write(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
                head = await r.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200")
                got = 0
                while got < GIB:
                    line = await r.readuntil(b"\r\n")
                    size = int(line.strip(), 16)
                    if size == 0:
                        break
                    await r.readexactly(size)
                    await r.readexactly(2)
                    got += size
                assert got == GIB
                assert await r.readuntil(b"\r\n\r\n") == b"0\r\n\r\n"
                # upload 1 GiB (Content-Length framing)
                w.write(b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % GIB)
                sent = 0
                while sent < GIB:
                    w.write(CHUNK)
                    sent += len(CHUNK)
                    await w.drain()
                head = await r.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head[:200] + p.text()[-2000:].encode()
                w.close()
                await w.wait_closed()
                peak = p.hwm_kb()
                print(f"gateway RSS: start {base} KiB, peak {peak} KiB while streaming 2 GiB")
                assert peak < 150 * 1024, f"peak RSS {peak} KiB"
                assert o.body_bytes == GIB
            finally:
                stop_proc(p)

    o = None
    run(t())
