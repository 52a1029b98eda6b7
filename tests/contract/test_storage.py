"""One contract for every storage backend (STYLE §7.7). Redis and PostgreSQL join with
the features that need them; memory and SQLite always run."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cpragate.core.clock import FakeClock
from cpragate.storage import CounterStore, KeyValueStore, Stores, open_stores
from cpragate.storage.memory import MemoryStore


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with(url: str, fn: Callable[[Stores], Awaitable[None]]) -> None:
    s = await open_stores(url)
    try:
        await fn(s)
    finally:
        await s.close()


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/state.db"


def test_protocols_satisfied(url: str) -> None:
    async def t(s: Stores) -> None:
        assert isinstance(s.counters, CounterStore) and isinstance(s.kv, KeyValueStore)

    run(_with(url, t))


def test_counter_incr_get(url: str) -> None:
    async def t(s: Stores) -> None:
        assert await s.counters.get("k") == 0
        assert await s.counters.incr("k") == 1
        assert await s.counters.incr("k", 5) == 6
        assert await s.counters.get("k") == 6
        assert await s.counters.incr("other", 2, ttl=60) == 2

    run(_with(url, t))


def test_counter_ttl_expires(url: str) -> None:
    async def t(s: Stores) -> None:
        await s.counters.incr("t", 3, ttl=0.05)
        await asyncio.sleep(0.1)
        assert await s.counters.get("t") == 0
        assert await s.counters.incr("t", 1, ttl=10) == 1

    run(_with(url, t))


def test_kv(url: str) -> None:
    async def t(s: Stores) -> None:
        assert await s.kv.get("a") is None
        await s.kv.set("a", b"\x00bytes")
        assert await s.kv.get("a") == b"\x00bytes"
        await s.kv.set("a", b"v2", ttl=0.05)
        assert await s.kv.get("a") == b"v2"
        await asyncio.sleep(0.1)
        assert await s.kv.get("a") is None
        await s.kv.set("b", b"1")
        assert await s.kv.delete("b") is True
        assert await s.kv.delete("b") is False

    run(_with(url, t))


def test_concurrent_increments_are_atomic(url: str) -> None:
    async def t(s: Stores) -> None:
        await asyncio.gather(*(s.counters.incr("c") for _ in range(200)))
        assert await s.counters.get("c") == 200

    run(_with(url, t))


def test_sqlite_persists_across_opens(tmp_path: Path) -> None:
    u = f"sqlite:///{tmp_path}/p.db"

    async def t1(s: Stores) -> None:
        await s.counters.incr("p", 7)
        await s.kv.set("k", b"v")

    async def t2(s: Stores) -> None:
        assert await s.counters.get("p") == 7 and await s.kv.get("k") == b"v"

    run(_with(u, t1))
    run(_with(u, t2))


def test_memory_store_fake_clock_and_bounds() -> None:
    async def t() -> None:
        c = FakeClock()
        m = MemoryStore(clock=c, max_keys=2)
        await m.incr("a", ttl=1)
        await m.incr("b", ttl=1)
        c.advance(2)
        await m.incr("c")  # sweeps expired keys when full
        assert await m.get("a") == 0 and await m.get("c") == 1
        await m.kv.set("x", b"1", ttl=1)
        await m.kv.set("y", b"1", ttl=1)
        c.advance(2)
        await m.kv.set("z", b"1")
        assert await m.kv.get("x") is None

    run(t())


def test_unknown_backend_is_a_clear_error() -> None:
    from cpragate.errors import StorageError

    with pytest.raises(StorageError, match="not available"):
        run(open_stores("redis://127.0.0.1:6379/0"))


def test_sqlite_unopenable_path(tmp_path: Path) -> None:
    from cpragate.errors import StorageError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((StorageError, OSError)):
        run(open_stores(f"sqlite:///{blocker}/sub/db.sqlite"))
