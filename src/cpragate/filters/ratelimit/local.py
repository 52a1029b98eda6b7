"""The in-process GCRA limiter: used when no Redis is configured (one process, or
``per_worker: true``) and as the fallback when Redis fails under ``on_error: allow``.
Bounded: expired buckets go first, then the oldest (a dropped bucket is a full one).
"""

from __future__ import annotations

from cpragate.core.clock import Clock
from cpragate.filters.ratelimit.algorithms import gcra
from cpragate.storage.access import LimitResult

__all__ = ["LocalLimiter"]


class LocalLimiter:
    """Limiter (storage.access Protocol) in a dict of TATs, monotonic clock."""

    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        return self.acquire_now(key, interval, capacity, cost)

    def acquire_now(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        now = self.clock.monotonic()
        new, res = gcra(self._tat.get(key), now, interval, capacity, cost)
        if new is not None:
            if key not in self._tat and len(self._tat) >= self.max_keys:
                self._sweep(now)
            self._tat[key] = new
        return res

    def _sweep(self, now: float) -> None:
        for k in [k for k, t in self._tat.items() if t <= now]:
            del self._tat[k]
        while len(self._tat) >= self.max_keys:
            del self._tat[next(iter(self._tat))]
