"""Personal-data budgets: which consumers, fixed windows, exhaustion."""

from __future__ import annotations

from cpragate.filters.anomaly.budgets import BudgetBook, applies
from cpragate.filters.anomaly.config import Budget


def test_applies_by_consumer_and_purpose() -> None:
    every = Budget(category="spi", limit=10)
    named = Budget(category="spi", limit=10, consumers=["a"])
    third = Budget(category="spi", limit=10, purposes=["third_party"])
    assert applies(every, "x", "contractor")
    assert applies(named, "a", "contractor") and not applies(named, "b", "contractor")
    assert applies(third, "x", "third_party") and not applies(third, "x", "service_provider")


def test_counts_per_fixed_window_and_exhausts_at_the_limit() -> None:
    book = BudgetBook([Budget(category="identifiers", limit=100, per=3600)])
    t = 7200.0 + 10
    assert book.plan("a", "third_party") == (0,)
    assert book.add_local("a", 0, 60, t) == 60
    assert not book.settle("a", 0, 60, t)
    assert book.add_local("a", 0, 40, t + 5) == 100
    assert book.settle("a", 0, 100, t + 5)
    assert not book.settle("a", 0, 120, t + 6)  # already exhausted in this window: reported once
    hit = book.blocked("a", t + 10)
    assert hit is not None and round(hit[0]) == 3600 - 20 and hit[1].category == "identifiers"
    assert book.blocked("b", t + 10) is None
    # the next window starts afresh
    assert book.blocked("a", 10_800.0) is None
    assert book.add_local("a", 0, 1, 10_800.0) == 1


def test_plans_are_per_consumer() -> None:
    book = BudgetBook([Budget(category="spi", limit=1, consumers=["a"]), Budget(category="identifiers", limit=5)])
    assert book.plan("a", "contractor") == (0, 1)
    assert book.plan("b", "contractor") == (1,)


def test_bounded() -> None:
    book = BudgetBook([Budget(category="spi", limit=1)], max_consumers=10)
    for i in range(100):
        book.add_local(f"c{i}", 0, 5, 100.0)
        book.settle(f"c{i}", 0, 5, 100.0)
    assert len(book.counts) <= 10 and len(book.exhausted) <= 10
