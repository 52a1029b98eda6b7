"""AlertStore and BlockStore contract: memory, and Redis shared by two gateway instances."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cpragate.storage.alerts import Alert, Block, MemoryAlerts, MemoryBlocks
from cpragate.storage.redis import RedisStore

from .test_storage import redis_url


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_backend(kind: str, fn: Callable[[Any, Any, Any, Any], Awaitable[None]]) -> None:
    if kind == "memory":
        a, b = MemoryAlerts(), MemoryBlocks()
        await fn(a, b, a, b)
        return
    url = redis_url()
    one, two = await RedisStore.open(url), await RedisStore.open(url)
    try:
        two.blocks.refresh = 0.0  # the second instance re-reads at every check (default: once a second)
        await fn(one.alerts, one.blocks, two.alerts, two.blocks)
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_blocks_put_check_expire_lift(kind: str) -> None:
    async def go(_a1: Any, b1: Any, _a2: Any, b2: Any) -> None:
        now = time.time()
        await b1.put(Block("consumer", "alice", "throttle", "scraping", now, now + 60, alert_id="al-1"))
        await b1.put(Block("ip", "198.51.100.7", "block", "credentials", now, now + 0.5))
        hit = await b2.check("consumer", "alice", now)  # seen by the other instance
        assert hit is not None and hit.action == "throttle" and hit.alert_id == "al-1"
        assert await b2.check("consumer", "bob", now) is None
        assert await b2.check("ip", "alice", now) is None  # kinds do not mix
        assert {b.subject for b in await b2.active(now)} == {"alice", "198.51.100.7"}
        assert await b2.check("ip", "198.51.100.7", now + 1) is None  # expired
        assert await b2.lift("consumer", "alice", by="admin@example")
        assert await b1.check("consumer", "alice", time.time()) is None
        assert await b2.check("consumer", "alice", time.time()) is None
        assert not await b1.lift("consumer", "alice", by="admin@example")  # nothing active any more
        assert not await b1.lift("consumer", "nobody", by="admin@example")

    run(_with_backend(kind, go))


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_alerts_add_list_get_acknowledge(kind: str) -> None:
    async def go(a1: Any, _b1: Any, a2: Any, _b2: Any) -> None:
        for i in range(5):
            await a1.add(Alert(f"al-{i}", "scraping" if i % 2 else "enumeration", "high", "consumer", f"c{i}",
                               f"summary {i}", 100.0 + i, {"count": i}))  # fmt: skip
        listed = await a2.list()
        assert [a.id for a in listed] == ["al-4", "al-3", "al-2", "al-1", "al-0"]  # newest first
        assert [a.id for a in await a2.list(limit=2)] == ["al-4", "al-3"]
        assert [a.id for a in await a2.list(detector="scraping")] == ["al-3", "al-1"]
        assert [a.id for a in await a2.list(since=103.0)] == ["al-4", "al-3"]
        got = await a2.get("al-2")
        assert got is not None and got.evidence == {"count": 2}
        assert await a2.get("al-9") is None
        assert await a2.acknowledge("al-2", "admin")
        assert not await a2.acknowledge("al-9", "admin")
        acked = await a1.get("al-2")
        assert acked is not None and acked.acknowledged_by == "admin" and acked.acknowledged_at is not None
        assert "al-2" not in [a.id for a in await a1.list(unacknowledged_only=True)]

    run(_with_backend(kind, go))


def test_redis_blocks_answer_from_the_last_copy_when_redis_fails() -> None:
    async def go() -> None:
        url = redis_url()
        s = await RedisStore.open(url)
        try:
            now = time.time()
            await s.blocks.put(Block("consumer", "mallory", "block", "x", now, now + 60))
            s.blocks.refresh = 0.0
            assert s.blocks.check_now("consumer", "mallory", now) == (False, None)  # stale mirror: await
            assert await s.blocks.check("consumer", "mallory", now) is not None
            s.blocks.refresh = 60.0
            known, b = s.blocks.check_now("consumer", "mallory", now)
            assert known and b is not None and b.subject == "mallory"
            s.blocks.refresh = 0.0
            await s._r.aclose(close_connection_pool=True)  # Redis unreachable from now on
            s._r = type(s._r).from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
            assert await s.blocks.check("consumer", "mallory", now) is not None
        finally:
            await s.aclose()

    run(go())


def test_redis_window_counts_are_shared_and_expire() -> None:
    async def go() -> None:
        url = redis_url()
        one, two = await RedisStore.open(url), await RedisStore.open(url)
        try:
            assert await one.windows.add_counts([("records:consumer:a:60", 5, 10.0), ("fail:ip:x:60", 1, 10.0)]) == [5, 1]
            assert await two.windows.add_counts([("records:consumer:a:60", 7, 10.0)]) == [12]
            assert await one.windows.add_counts([]) == []
            assert await one.windows.add_distinct([("subjects:consumer:a:60", ["h1", "h2", "h3"], 10.0)]) == [3]
            assert await two.windows.add_distinct([("subjects:consumer:a:60", ["h2", "h4"], 10.0), ("subjects:consumer:b:60", [], 10.0)]) == [4, 0]
            assert await one.windows.claim("scraping:consumer:a", 5.0)
            assert not await two.windows.claim("scraping:consumer:a", 5.0)
            assert await two.windows.claim("scraping:consumer:b", 0.05)
            await asyncio.sleep(0.1)
            assert await one.windows.claim("scraping:consumer:b", 5.0)  # the first claim expired
            assert await one.windows.add_counts([("short:consumer:a:60", 1, 0.05)]) == [1]
            await asyncio.sleep(0.1)
            assert await one.windows.add_counts([("short:consumer:a:60", 1, 0.05)]) == [1]  # expired, started afresh
        finally:
            await one.aclose()
            await two.aclose()

    run(go())
