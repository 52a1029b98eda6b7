"""In-process storage: the default for tests and single-process development."""

from __future__ import annotations

from cpragate.core.clock import Clock, SystemClock

__all__ = ["MemoryKV", "MemoryStore"]


class MemoryStore:
    """CounterStore in a dict; expired keys are dropped when touched or swept."""

    def __init__(self, clock: Clock | None = None, max_keys: int = 1_000_000) -> None:
        self.clock = clock or SystemClock()
        self._counters: dict[str, tuple[int, float | None]] = {}
        self.max_keys = max_keys
        self.kv = MemoryKV(self.clock, max_keys)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now = self.clock.monotonic()
        cur = self._counters.get(key)
        if cur is None or (cur[1] is not None and cur[1] <= now):
            if len(self._counters) >= self.max_keys:
                self._sweep(now)
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

    def _sweep(self, now: float) -> None:
        for k in [k for k, (_, e) in self._counters.items() if e is not None and e <= now]:
            del self._counters[k]


class MemoryKV:
    """KeyValueStore in a dict."""

    def __init__(self, clock: Clock, max_keys: int) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._d: dict[str, tuple[bytes, float | None]] = {}

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
        if len(self._d) >= self.max_keys and key not in self._d:
            for k in [k for k, (_, e) in self._d.items() if e is not None and e <= now]:
                del self._d[k]
        self._d[key] = (value, now + ttl if ttl is not None else None)

    async def delete(self, key: str) -> bool:
        return self._d.pop(key, None) is not None
