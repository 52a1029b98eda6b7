"""GCRA math, table-driven (interval 1 s, capacity 3 unless stated)."""

import pytest

from cpragate.filters.ratelimit.algorithms import gcra


@pytest.mark.parametrize(
    ("tat", "now", "cost", "allowed", "remaining", "new_tat"),
    [
        (None, 100.0, 1, True, 2, 101.0),  # fresh bucket
        (101.0, 100.0, 1, True, 1, 102.0),
        (102.0, 100.0, 1, True, 0, 103.0),  # bucket now empty
        (103.0, 100.0, 1, False, 0, None),  # refused: retry after 1 s
        (103.0, 101.0, 1, True, 0, 104.0),  # one unit refilled
        (50.0, 100.0, 1, True, 2, 101.0),  # an old TAT is a full bucket
        (None, 100.0, 3, True, 0, 103.0),
        (None, 100.0, 4, False, 3, None),  # cost above capacity never passes
    ],
)
def test_gcra_table(tat: float | None, now: float, cost: int, allowed: bool, remaining: int, new_tat: float | None) -> None:
    t, r = gcra(tat, now, 1.0, 3, cost)
    assert r.allowed is allowed and r.remaining == remaining and t == new_tat


def test_retry_after_and_reset() -> None:
    _, r = gcra(103.0, 100.0, 1.0, 3)
    assert r.retry_after == pytest.approx(1.0) and r.reset_after == pytest.approx(3.0)
    _, ok = gcra(None, 0.0, 0.5, 10)
    assert ok.retry_after == 0 and ok.reset_after == pytest.approx(0.5)


def test_window_bound() -> None:
    """Offered far above the rate, admitted in W seconds is capacity + W/interval."""
    tat: float | None = None
    admitted = 0
    for step in range(10_000):  # 10 s at 1 kHz, rate 10/s, capacity 5
        new, r = gcra(tat, step / 1000, 0.1, 5)
        if r.allowed:
            admitted += 1
            tat = new
    assert admitted in (104, 105)
