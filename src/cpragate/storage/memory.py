"""In-process storage: the default for tests and single-process development."""

from __future__ import annotations

from typing import Any

from cpragate.core.clock import Clock, SystemClock

__all__ = ["MemoryKV", "MemoryStore"]


def _make_room(d: dict[str, tuple[Any, float | None]], now: float, max_keys: int) -> int:
    """Drop ``d``'s expired keys, then its oldest until one more fits under ``max_keys``;
    the size at which to sweep next (twice what is left: amortized O(1) per insert)."""
    for k in [k for k, (_, e) in d.items() if e is not None and e <= now]:
        del d[k]
    while len(d) >= max_keys:
        del d[next(iter(d))]
    return min(max_keys, max(64, 2 * len(d)))


class MemoryStore:
    """CounterStore in a dict, bounded: expired keys are dropped when touched or by a sweep
    when the table has doubled since the last one; past ``max_keys`` the oldest goes."""

    def __init__(self, clock: Clock | None = None, max_keys: int = 1_000_000) -> None:
        self.clock = clock or SystemClock()
        self._counters: dict[str, tuple[int, float | None]] = {}
        self.max_keys = max_keys
        self._sweep_at = min(64, max_keys)
        self.kv = MemoryKV(self.clock, max_keys)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now = self.clock.monotonic()
        cur = self._counters.get(key)
        if cur is None or (cur[1] is not None and cur[1] <= now):
            if cur is None and len(self._counters) >= self._sweep_at:
                self._sweep_at = _make_room(self._counters, now, self.max_keys)
            value, exp = amount, (now + ttl if ttl is not None else None)
        else:
            value, exp = cur[0] + amount, cur[1]
        self._counters[key] = (value, exp)
        return value

    async def get(self, key: str) -> int:
        cur = self._counters.get(key)
        if cur is None:
            return 0
        if cur[1] is not None and cur[1] <= self.clock.monotonic():
            del self._counters[key]
            return 0
        return cur[0]



class MemoryKV:
    """KeyValueStore in a dict, bounded like MemoryStore."""

    def __init__(self, clock: Clock, max_keys: int) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._d: dict[str, tuple[bytes, float | None]] = {}
        self._sweep_at = min(64, max_keys)

    async def get(self, key: str) -> bytes | None:
        cur = self._d.get(key)
        if cur is None:
            return None
        if cur[1] is not None and cur[1] <= self.clock.monotonic():
            del self._d[key]
            return None
        return cur[0]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now = self.clock.monotonic()
        if len(self._d) >= self._sweep_at and key not in self._d:
            self._sweep_at = _make_room(self._d, now, self.max_keys)
        self._d[key] = (value, now + ttl if ttl is not None else None)

    async def delete(self, key: str) -> bool:
        return self._d.pop(key, None) is not None
