"""The in-process GCRA limiter: used when no Redis is configured (one process, or
``per_worker: true``) and as the fallback when Redis fails under ``on_error: allow``.
Bounded: expired buckets go first, then the oldest (a dropped bucket is a full one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cpragate.core.clock import Clock, SystemClock
from cpragate.storage.access import LimitResult

__all__ = ["LocalLimiter"]


class LocalLimiter:
    """Limiter (storage.access Protocol) in a dict of TATs, monotonic clock.

    Compiled with mypyc (group ``dataplane``, cpragate/_accel.py) with the fast path
    beside it (fastpath.py)."""

    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}
        # the system clock's reading without its interpreted wrapper method
        self._monotonic: Callable[[], float] = time.monotonic if type(clock) is SystemClock else clock.monotonic

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        return self.acquire_now(key, interval, capacity, cost)

    def acquire_now(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        """``algorithms.gcra`` inlined (the request path): floats, one dict get, one set."""
        now = self._monotonic()
        tats = self._tat
        tat = tats.get(key)
        base = now if tat is None or tat < now else tat
        new_tat = base + interval * cost
        limit = interval * capacity
        diff = new_tat - now
        if diff > limit + 1e-9:
            remaining = max(0, math.floor((limit - (base - now)) / interval + 1e-9))
            return LimitResult(False, remaining, diff - limit, base - now)
        if tat is None and len(tats) >= self.max_keys:
            self._sweep(now)
        tats[key] = new_tat
        return LimitResult(True, math.floor((limit - diff) / interval + 1e-9), 0.0, diff)

    def take(self, key: str, interval: float, capacity: int) -> float:
        """``acquire_now`` of one unit without the LimitResult (the request path of the
        in-process limit): the seconds until the bucket is full again (> 0) when allowed
        and taken, else minus the seconds to wait (< 0; nothing taken)."""
        now = self._monotonic()
        tats = self._tat
        tat = tats.get(key)
        new_tat = (now if tat is None or tat < now else tat) + interval
        diff = new_tat - now
        limit = interval * capacity
        if diff > limit + 1e-9:
            return limit - diff
        if tat is None and len(tats) >= self.max_keys:
            self._sweep(now)
        tats[key] = new_tat
        return diff

    def _sweep(self, now: float) -> None:
        for k in [k for k, t in self._tat.items() if t <= now]:
            del self._tat[k]
        while len(self._tat) >= self.max_keys:
            del self._tat[next(iter(self._tat))]
