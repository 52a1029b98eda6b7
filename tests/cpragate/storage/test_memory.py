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
