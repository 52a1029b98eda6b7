"""Detector windows several gateway instances share (``filters.anomaly`` with ``storage.redis``).

The anomaly filter counts in its own process and, every ``sync_interval``, adds what it
counted since the last sync to one shared counter per (signal, subject, window) and reads
back the total: a consumer whose requests a load balancer spreads over N instances is
judged on all of them, at the cost of one round trip per instance per interval (never one
per request). Distinct data subjects are shared as HyperLogLog sketches of hashed ids
(≈ 0.8 % error; the ids themselves never leave the process).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["WindowCounts"]


@runtime_checkable
class WindowCounts(Protocol):
    async def add_counts(self, items: list[tuple[str, int, float]]) -> list[int]:
        """Add each ``(key, amount, ttl)``; the totals after adding, in order."""
        ...

    async def add_distinct(self, items: list[tuple[str, list[str], float]]) -> list[int]:
        """Add each ``(key, members, ttl)`` to a distinct count; the counts after adding."""
        ...

    async def claim(self, key: str, ttl: float) -> bool:
        """True for the first caller in ``ttl`` seconds (one alert per attack across instances)."""
        ...
