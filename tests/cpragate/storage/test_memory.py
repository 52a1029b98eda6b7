"""MemoryStore behaviour is covered by the shared contract (tests/contract/test_storage.py)."""

import asyncio

from cpragate.storage.memory import MemoryStore


def test_expired_get_drops_key() -> None:
    from cpragate.core.clock import FakeClock

    c = FakeClock()
    m = MemoryStore(clock=c)
    asyncio.run(m.incr("a", ttl=1))
    c.advance(1)
    assert asyncio.run(m.get("a")) == 0


def test_counters_stay_within_max_keys_after_more_distinct_keys() -> None:
    from cpragate.core.clock import FakeClock

    async def t() -> None:
        c = FakeClock()
        m = MemoryStore(clock=c, max_keys=100)
        for i in range(250):  # no ttl: nothing ever expires, the oldest make room
            await m.incr(f"ip:{i}")
        assert len(m._counters) <= 100
        assert await m.get("ip:249") == 1 and await m.get("ip:0") == 0
        m = MemoryStore(clock=c, max_keys=100)
        for i in range(250):  # with a ttl, expired keys are swept long before the bound
            await m.incr(f"x:{i}", ttl=1)
            c.advance(1)
        assert len(m._counters) <= 64

    asyncio.run(t())


def test_kv_stays_within_max_keys_after_more_distinct_keys() -> None:
    from cpragate.core.clock import FakeClock

    async def t() -> None:
        c = FakeClock()
        m = MemoryStore(clock=c, max_keys=100)
        for i in range(250):
            await m.kv.set(f"k{i}", b"v")
        assert len(m.kv._d) <= 100 and await m.kv.get("k249") == b"v"
        m = MemoryStore(clock=c, max_keys=100)
        for i in range(250):
            await m.kv.set(f"t{i}", b"v", ttl=1)
            c.advance(1)
        assert len(m.kv._d) <= 64

    asyncio.run(t())
