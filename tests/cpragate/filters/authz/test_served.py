import asyncio

from cpragate.core.clock import FakeClock
from cpragate.filters.authz.served import LocalServedIds


def test_lru_bound_expiry_and_key_bound() -> None:
    c = FakeClock()
    s = LocalServedIds(c, max_keys=2)

    async def t() -> None:
        await s.add("a", ["1", "2"], max_ids=2, ttl=10)
        await s.add("a", ["1", "3"], max_ids=2, ttl=10)  # 1 refreshed, 2 evicted
        assert await s.contains("a", "1") and await s.contains("a", "3") and not await s.contains("a", "2")
        c.advance(11)
        assert not await s.contains("a", "1")
        for k in ("x", "y", "z"):
            await s.add(k, ["1"], max_ids=5, ttl=10)
        assert not await s.contains("x", "1") and await s.contains("z", "1")

    asyncio.run(t())
