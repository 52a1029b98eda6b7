"""GCRA (generic cell rate algorithm), the pure math; storage/redis.py runs the same in Lua.

A bucket refills one unit every ``interval`` seconds and holds ``capacity`` units. The
only state is the theoretical arrival time (TAT) of the next request. A request of
``cost`` is allowed when ``max(tat, now) + cost·interval - now <= capacity·interval``;
then the TAT moves forward by ``cost·interval``. Over any window W the admitted count is
at most ``capacity + W / interval`` — the bound the two-process test checks.
"""

from __future__ import annotations

import math

from cpragate.storage.access import LimitResult

__all__ = ["gcra"]


def gcra(tat: float | None, now: float, interval: float, capacity: int, cost: int = 1) -> tuple[float | None, LimitResult]:
    """Return the new TAT (None: unchanged) and the decision."""
    base = now if tat is None or tat < now else tat
    new_tat = base + interval * cost
    limit = interval * capacity
    diff = new_tat - now
    if diff > limit + 1e-9:
        remaining = max(0, math.floor((limit - (base - now)) / interval + 1e-9))
        return None, LimitResult(False, remaining, diff - limit, base - now)
    return new_tat, LimitResult(True, math.floor((limit - diff) / interval + 1e-9), 0.0, diff)
