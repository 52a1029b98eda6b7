import asyncio

from cpragate.core.clock import FakeClock
from cpragate.filters.ratelimit.local import LocalLimiter


def test_local_limiter_with_fake_clock() -> None:
    c = FakeClock()
    lim = LocalLimiter(c)
    assert [lim.acquire_now("k", 1.0, 2).allowed for _ in range(3)] == [True, True, False]
    c.advance(1.0)
    assert asyncio.run(lim.acquire("k", 1.0, 2)).allowed


def test_local_limiter_is_bounded() -> None:
    c = FakeClock()
    lim = LocalLimiter(c, max_keys=3)
    for i in range(10):
        lim.acquire_now(f"k{i}", 100.0, 1)
    assert len(lim._tat) <= 3
    c.advance(1000)
    lim.acquire_now("new", 1.0, 1)  # expired buckets are swept first
    assert len(lim._tat) == 1
