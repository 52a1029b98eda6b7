import asyncio
import random

from cpragate.core.clock import FakeClock
from cpragate.filters.ratelimit.algorithms import gcra
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


def test_inlined_gcra_decides_exactly_as_the_reference() -> None:
    rnd = random.Random(7)
    c = FakeClock()
    lim = LocalLimiter(c)
    tat: dict[str, float] = {}
    for _ in range(5000):
        key = rnd.choice("abc")
        interval, capacity, cost = rnd.choice([(0.1, 3, 1), (0.5, 1, 1), (0.01, 50, 2), (1 / 3, 7, 1)])
        c.advance(rnd.choice([0.0, 0.0, 0.001, 0.05, 0.3, 2.0]))
        new, want = gcra(tat.get(key), c.monotonic(), interval, capacity, cost)
        if new is not None:
            tat[key] = new
        assert lim.acquire_now(key, interval, capacity, cost) == want


def test_take_decides_like_acquire_now() -> None:
    """``take`` (the filter's request path) admits and refuses exactly as ``acquire_now``."""
    c1, c2 = FakeClock(), FakeClock()
    a, b = LocalLimiter(c1), LocalLimiter(c2)
    for step in [0.0] * 7 + [0.05, 0.3, 0.0, 0.0, 1.2] + [0.01] * 10:
        c1.advance(step)
        c2.advance(step)
        res = a.acquire_now("k", 0.25, 5)
        got = b.take("k", 0.25, 5)
        if res.allowed:
            assert got > 0 and got == res.reset_after
        else:
            assert got < 0 and -got == res.retry_after
    assert a._tat == b._tat
