"""The alert and block contract, on the in-memory backends."""

from __future__ import annotations

import asyncio

from cpragate.storage.alerts import Alert, AlertStore, Block, BlockStore, MemoryAlerts, MemoryBlocks


def _alert(i: int, detector: str = "scraping", t: float = 0.0) -> Alert:
    return Alert(
        id=f"a{i}", detector=detector, severity="high", subject_kind="consumer", subject="acme",
        summary="distinct subjects far above baseline", created_at=t + i, evidence={"distinct": 900},
    )


def test_memory_backends_satisfy_the_protocols() -> None:
    assert isinstance(MemoryAlerts(), AlertStore)
    assert isinstance(MemoryBlocks(), BlockStore)


def test_alerts_list_newest_first_filter_and_acknowledge() -> None:
    async def go() -> None:
        s = MemoryAlerts(max_alerts=3)
        for i in range(5):
            await s.add(_alert(i, "scraping" if i % 2 else "enumeration"))
        got = await s.list()
        assert [a.id for a in got] == ["a4", "a3", "a2"]  # bounded: a0, a1 dropped
        assert await s.get("a0") is None
        assert [a.id for a in await s.list(detector="scraping")] == ["a3"]
        assert [a.id for a in await s.list(since=3.0)] == ["a4", "a3"]
        assert await s.acknowledge("a4", by="officer")
        assert not await s.acknowledge("nope", by="officer")
        got4 = await s.get("a4")
        assert got4 is not None and got4.acknowledged_by == "officer" and got4.acknowledged_at is not None
        assert [a.id for a in await s.list(unacknowledged_only=True)] == ["a3", "a2"]
        assert got4.to_json()["evidence"] == {"distinct": 900}

    asyncio.run(go())


def test_blocks_expire_and_lift() -> None:
    async def go() -> None:
        import time

        now = time.time()
        s = MemoryBlocks()
        assert await s.check("ip", "10.0.0.1", now) is None
        await s.put(Block("ip", "10.0.0.1", "block", "credential_stuffing", now, now + 60))
        await s.put(Block("consumer", "old", "throttle", "scraping", now - 100, now - 1))
        b = await s.check("ip", "10.0.0.1", now)
        assert b is not None and b.action == "block"
        assert await s.check("consumer", "old", now) is None  # expired
        assert s.check_now("ip", "10.0.0.1", now) == (True, b)  # the same answer without awaiting
        assert s.check_now("ip", "10.0.0.2", now) == (True, None)
        assert [x.subject for x in await s.active(now)] == ["10.0.0.1"]
        assert await s.lift("ip", "10.0.0.1", by="admin")
        assert not await s.lift("ip", "10.0.0.1", by="admin")
        assert await s.check("ip", "10.0.0.1", now) is None
        assert b.to_json()["action"] == "block"

    asyncio.run(go())


def test_blocks_stay_bounded_under_rotating_addresses() -> None:
    async def go() -> None:
        import time

        now = time.time()
        s = MemoryBlocks(max_blocks=100)
        for i in range(1000):  # expired blocks of rotated addresses never checked again: swept
            await s.put(Block("ip", f"10.0.{i // 256}.{i % 256}", "block", "credential_stuffing", now - 10, now - 1))
        assert len(s._blocks) <= 64
        s = MemoryBlocks(max_blocks=100)
        for i in range(250):  # all active: the one expiring first makes room
            await s.put(Block("ip", f"10.1.0.{i}", "block", "credential_stuffing", now, now + 60 + i))
        assert len(s._blocks) <= 100
        assert await s.check("ip", "10.1.0.249", now) is not None
        assert await s.check("ip", "10.1.0.0", now) is None

    asyncio.run(go())
