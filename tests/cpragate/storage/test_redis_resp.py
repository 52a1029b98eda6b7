"""The RESP2 client: parsing, encoding, pipelining, NOSCRIPT fallback, timeouts, reconnects.

Server-side tests use a PRIVATE redis-server on a free port (never the shared one: they
flush scripts and stop the server)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from cpragate.errors import StorageError
from cpragate.storage.redis_resp import (
    RespClient,
    RespError,
    Script,
    _Incomplete,
    encode_command,
    encode_evalsha,
    parse_reply,
)


def test_encode_command() -> None:
    assert encode_command(("SET", "k", b"v\r\n", 12)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n12\r\n"


def test_encode_evalsha_and_its_eval_fallback() -> None:
    s = Script("return 1")
    sha, ev = encode_evalsha(s, ("k",), (5,))
    assert sha == encode_command(("EVALSHA", s.sha, 1, "k", 5))
    assert ev == encode_command(("EVAL", "return 1", 1, "k", 5))
    assert len(s.sha) == 40


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"+OK\r\n", b"OK"),
        (b":-12\r\n", -12),
        (b"$3\r\na\r\n\r\n", b"a\r\n"),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n", [1, b"x", [b"y"]]),
        (b"*0\r\n", []),
    ],
)
def test_parse_reply(raw: bytes, value: object) -> None:
    assert parse_reply(raw + b"+next\r\n", 0) == (value, len(raw))
    for cut in range(len(raw)):  # every prefix is incomplete, never a wrong value
        with pytest.raises(_Incomplete):
            parse_reply(raw[:cut], 0)


def test_parse_error_reply_is_a_storage_error_value() -> None:
    v, _ = parse_reply(b"-NOSCRIPT No matching script\r\n", 0)
    assert isinstance(v, RespError) and isinstance(v, StorageError) and v.detail.startswith("NOSCRIPT")


def test_parse_garbage_raises() -> None:
    with pytest.raises(StorageError):
        parse_reply(b"?what\r\n", 0)


# --------------------------------------------------------------------------- a private server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is required (scripts/test installs it)")
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("private redis did not start")


@pytest.fixture
def private_redis() -> Iterator[int]:
    port = free_port()
    p = start_redis(port)
    try:
        yield port
    finally:
        p.terminate()
        p.wait(10)


def test_pipelined_replies_match_their_callers(private_redis: int) -> None:
    async def t() -> None:
        c = RespClient(f"redis://127.0.0.1:{private_redis}/3")
        try:
            await c.connect()
            futs = [c.call("SET", f"k{i}", i) for i in range(200)]
            assert await asyncio.gather(*futs) == [b"OK"] * 200
            got = await asyncio.gather(*(c.call("GET", f"k{i}") for i in range(200)))
            assert got == [str(i).encode() for i in range(200)]
            with pytest.raises(RespError):
                await c.call("INCR", "k1", "not-a-number-of-args")
            assert await c.call("DBSIZE") == 200  # SELECT 3 happened (and the error above broke nothing)
        finally:
            await c.aclose()

    asyncio.run(t())


def test_noscript_falls_back_to_eval_under_the_same_await(private_redis: int) -> None:
    async def t() -> None:
        c = RespClient(f"redis://127.0.0.1:{private_redis}/0")
        s = Script("return tonumber(ARGV[1]) + 1")
        try:
            assert await c.evalsha(s, (), (1,)) == 2  # never loaded: NOSCRIPT -> EVAL
            assert await c.call("SCRIPT", "EXISTS", s.sha) == [1]
            await c.call("SCRIPT", "FLUSH")
            assert await asyncio.gather(*(c.evalsha(s, (), (i,)) for i in range(5))) == [1, 2, 3, 4, 5]
        finally:
            await c.aclose()

    asyncio.run(t())


def test_reconnects_after_a_restart_with_backoff() -> None:
    async def t() -> None:
        port = free_port()
        p = start_redis(port)
        c = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        try:
            assert await c.call("PING") == b"PONG"
            p.terminate()
            p.wait(10)
            for _ in range(3):
                t0 = time.monotonic()
                with pytest.raises(StorageError):
                    await c.call("PING")
                assert time.monotonic() - t0 < 1.0
            p = start_redis(port)
            deadline = time.monotonic() + 5
            while True:
                try:
                    assert await c.call("PING") == b"PONG"
                    break
                except StorageError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
        finally:
            await c.aclose()
            p.terminate()
            p.wait(10)

    asyncio.run(t())


def test_a_silent_server_times_out_every_waiter() -> None:
    async def t() -> None:
        stop = asyncio.Event()

        async def mute(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await r.read(1 << 20)
                await stop.wait()
            finally:
                w.close()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        try:
            t0 = time.monotonic()
            with pytest.raises(StorageError):
                await c.connect()  # the PING of the handshake gets no answer
            assert time.monotonic() - t0 < 1.0
        finally:
            await c.aclose()
            stop.set()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0.05)

    asyncio.run(t())


def test_a_connection_that_stops_answering_times_out_and_fails_every_waiter() -> None:
    async def t() -> None:
        stop = asyncio.Event()

        async def pong_once(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await r.readuntil(b"PING\r\n")
                w.write(b"+PONG\r\n")
                await r.read(1 << 20)
                await stop.wait()
            finally:
                w.close()

        server = await asyncio.start_server(pong_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        try:
            await c.connect()
            t0 = time.monotonic()
            res = await asyncio.gather(*(c.call("GET", "k") for _ in range(10)), return_exceptions=True)
            assert all(isinstance(r, StorageError) for r in res), res
            assert time.monotonic() - t0 < 1.0
        finally:
            await c.aclose()
            stop.set()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0.05)

    asyncio.run(t())


def test_unreachable_and_closed() -> None:
    async def t() -> None:
        c = RespClient(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
        with pytest.raises(StorageError):
            await c.connect()
        with pytest.raises(StorageError):
            await c.call("PING")  # in backoff: fails at once
        await c.aclose()
        with pytest.raises(StorageError):
            await c.call("PING")

    asyncio.run(t())


def test_url_parts() -> None:
    c = RespClient("rediss://u:p%40ss@example.org:7000/4?x=1")
    assert (c.host, c.port, c.db, c.username, c.password, c.tls) == ("example.org", 7000, 4, "u", "p@ss", True)
    with pytest.raises(StorageError):
        RespClient("http://x")
