"""Served-id memory in this process (the ServedIds Protocol), when no Redis is configured.

One bounded LRU of ids per consumer and namespace, expiring as a whole ``ttl`` after its
last addition. When full, the oldest ids go first: a forgotten id is refused, so the
bound errs towards denying, never towards serving.
"""

from __future__ import annotations

from collections import OrderedDict

from cpragate.core.clock import Clock

__all__ = ["LocalServedIds"]


class LocalServedIds:
    """ServedIds (storage.access Protocol): one bounded LRU of ids per key, with expiry."""

    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._sets: OrderedDict[str, tuple[OrderedDict[str, None], float]] = OrderedDict()

    async def add(self, key: str, ids: list[str], max_ids: int, ttl: float) -> None:
        cur = self._sets.pop(key, None)
        s = cur[0] if cur is not None and cur[1] > self.clock.monotonic() else OrderedDict()
        for i in ids:
            s.pop(i, None)
            s[i] = None
        while len(s) > max_ids:
            s.popitem(last=False)
        self._sets[key] = (s, self.clock.monotonic() + ttl)
        while len(self._sets) > self.max_keys:
            self._sets.popitem(last=False)

    async def contains(self, key: str, object_id: str) -> bool:
        cur = self._sets.get(key)
        if cur is None:
            return False
        if cur[1] <= self.clock.monotonic():
            del self._sets[key]
            return False
        return object_id in cur[0]
