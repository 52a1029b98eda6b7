"""Personal-data budgets: how many values of a PI category a consumer may receive per window.

A rate limit counted in personal data, not requests. Windows are fixed and aligned to
the epoch (``[k·per, (k+1)·per)``), so ``Retry-After`` is the time to the window's end.
Counting happens when a response completes (the pii filter's per-category counts), so
the response that crosses the limit is still delivered and the *next* request is refused:
a budget is overshot by at most one response per gateway instance. With a shared
counter store (Redis) the count is the sum over every instance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import DataBudgetExhausted
from cpragate.filters.anomaly.config import Budget

__all__ = ["BudgetBook", "BudgetGate", "applies", "exhausted"]


def applies(b: Budget, consumer: str, purpose: str) -> bool:
    if b.consumers and consumer not in b.consumers:
        return False
    return not b.purposes or purpose in b.purposes


class BudgetBook:
    """Which budgets bind which consumer, the local counts, and the exhausted ones."""

    def __init__(self, budgets: list[Budget], max_consumers: int = 100_000) -> None:
        self.budgets = budgets
        self.max = max_consumers
        self._plans: dict[tuple[str, str], tuple[int, ...]] = {}
        self.counts: dict[tuple[str, int], tuple[float, int]] = {}
        """(consumer, budget index) -> (window start, values counted in it)."""
        self.exhausted: dict[str, tuple[float, int]] = {}
        """consumer -> (end of the window whose budget is used up, budget index)."""

    def plan(self, consumer: str, purpose: str) -> tuple[int, ...]:
        k = (consumer, purpose)
        p = self._plans.get(k)
        if p is None:
            if len(self._plans) >= self.max:
                self._plans.clear()
            p = self._plans[k] = tuple(i for i, b in enumerate(self.budgets) if applies(b, consumer, purpose))
        return p

    def blocked(self, consumer: str, now: float) -> tuple[float, Budget] | None:
        """(seconds until the window ends, the budget) when ``consumer`` is out of budget."""
        hit = self.exhausted.get(consumer)
        if hit is None:
            return None
        until, i = hit
        if now >= until:
            del self.exhausted[consumer]
            return None
        return until - now, self.budgets[i]

    def window(self, i: int, now: float) -> float:
        per = self.budgets[i].per
        return now - (now % per)

    def add_local(self, consumer: str, i: int, n: int, now: float) -> int:
        """Count ``n`` values in this process; the window's total."""
        start = self.window(i, now)
        k = (consumer, i)
        cur = self.counts.get(k)
        total = n if cur is None or cur[0] != start else cur[1] + n
        if cur is None and len(self.counts) >= self.max:
            del self.counts[next(iter(self.counts))]
        self.counts[k] = (start, total)
        return total

    def settle(self, consumer: str, i: int, total: int, now: float) -> bool:
        """Record the window's ``total``; True when it just exhausted the budget."""
        b = self.budgets[i]
        if total < b.limit:
            return False
        end = self.window(i, now) + b.per
        prev = self.exhausted.get(consumer)
        if prev is not None and prev[0] >= end:
            return False
        if len(self.exhausted) >= self.max:
            del self.exhausted[next(iter(self.exhausted))]
        self.exhausted[consumer] = (end, i)
        return True


def exhausted(wait: float, b: Budget) -> Deny:
    """The 429 of an exhausted budget, ``wait`` seconds before its window ends."""
    retry = max(1, math.ceil(wait))
    per = str(int(b.per)) if float(b.per).is_integer() else f"{b.per:g}"
    name = f"pd-{b.category}"
    return Deny(
        DataBudgetExhausted,
        rule=f"anomaly:budget:{b.category}",
        headers=(
            (b"retry-after", b"%d" % retry),
            (b"ratelimit-policy", f'"{name}";q={b.limit};w={per}'.encode("ascii", "replace")),
            (b"ratelimit", f'"{name}";r=0;t={retry}'.encode("ascii", "replace")),
        ),
    )


class BudgetGate:
    """The anomaly filter's request phase: refuse a consumer whose budget is used up.

    It never awaits, so it is the filter's ``request_now`` (bound in filter.py): no
    coroutine per request, and the request phase stays synchronous past it. With no
    budget exhausted (nearly always) it is one dictionary truth test.
    """

    def __init__(self, book: BudgetBook, time: Callable[[], float]) -> None:
        self.book = book
        self.time = time

    def request_now(self, exchange: Exchange) -> Verdict:
        book = self.book
        if not book.exhausted:
            return CONTINUE
        ident = exchange.identity
        if ident is None:
            return CONTINUE
        hit = book.blocked(ident.consumer, self.time())
        if hit is None:
            return CONTINUE
        return exhausted(hit[0], hit[1])
