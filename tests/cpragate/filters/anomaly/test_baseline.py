"""Sliding counts and baselines (crafted sequences, no filter)."""

from __future__ import annotations

import pytest

from cpragate.filters.anomaly.baseline import FAST, SLOW, Population, Rate, threshold


def test_sliding_count_weighs_the_previous_window_by_its_overlap() -> None:
    r = Rate()
    for t in range(0, 60, 6):  # 10 events in [0, 60)
        r.add(float(t), 60.0, 1, None)
    assert r.cur == 10
    # 30 s into the next window: half of the previous window still counts
    assert r.add(90.0, 60.0, 1, None) == pytest.approx(1 + 10 * 0.5)
    assert r.sliding(90.0, 60.0) == pytest.approx(6.0)
    # two windows later nothing is left
    assert r.sliding(200.0, 60.0) == 0.0


def test_a_gap_longer_than_a_window_forgets_the_previous_window() -> None:
    r = Rate()
    r.add(10.0, 60.0, 50, None)
    assert r.add(130.0, 60.0, 1, None) == 1.0  # the window [60, 120) was empty
    assert r.prev == 0.0


def test_closed_windows_are_learned_into_fast_and_slow_averages() -> None:
    r = Rate()
    r.add(0.0, 10.0, 10, None)
    r.add(10.0, 10.0, 20, None)  # closes [0,10) with 10
    assert (r.n, r.fast, r.slow) == (1, 10.0, 10.0)
    r.add(20.0, 10.0, 0.5, None)  # closes [10,20) with 20
    assert r.n == 2
    assert r.fast == pytest.approx(10 + FAST * 10)
    assert r.slow == pytest.approx(10 + SLOW * 10)
    assert r.peak == pytest.approx(20.0)


def test_an_alarmed_window_is_learned_slowly_and_clamped() -> None:
    r = Rate()
    pop = Population(5.0)
    r.add(0.0, 10.0, 5, pop)
    r.add(10.0, 10.0, 500, pop)
    thr = r.limit(5.0, 0.0, 2.0, 1.0)
    assert thr == 10.0
    r.alarmed = True
    before = pop.mean
    r.add(20.0, 10.0, 1, pop)
    assert (r.n, r.fast, r.peak) == (2, 5.0, 5.0)  # fast and peak untouched
    assert r.slow == pytest.approx(5 + SLOW * (10 - 5))  # slow moved towards the threshold, not 500
    assert pop.mean == before


def test_population_learns_every_subjects_windows() -> None:
    pop = Population(100.0)
    r = Rate()
    r.add(0.0, 10.0, 0.0 + 10, pop)
    r.add(10.0, 10.0, 1, pop)
    assert 90.0 < pop.mean < 100.0


@pytest.mark.parametrize(
    ("fast", "slow", "n", "prior", "weight", "factor", "floor", "want"),
    [
        (0.0, 0.0, 0, 20.0, 10.0, 5.0, 10.0, 100.0),  # new subject: population prior alone
        (0.0, 0.0, 0, 1.0, 10.0, 5.0, 50.0, 50.0),  # ...never below the floor
        (100.0, 50.0, 50, 20.0, 0.0, 5.0, 1.0, 500.0),  # own history alone, larger of fast/slow
        (100.0, 100.0, 10, 20.0, 10.0, 2.0, 1.0, 120.0),  # half own, half prior
    ],
)
def test_threshold_shrinks_towards_the_prior(
    fast: float, slow: float, n: int, prior: float, weight: float, factor: float, floor: float, want: float
) -> None:
    assert threshold(fast, slow, n, prior, weight, factor, floor) == pytest.approx(want)


def test_threshold_widens_for_bursty_subjects_and_remembers_peaks() -> None:
    calm = threshold(10.0, 10.0, 50, 10.0, 0.0, 3.0, 1.0, var=0.0, peak=10.0, sigmas=6.0)
    bursty = threshold(10.0, 10.0, 50, 10.0, 0.0, 3.0, 1.0, var=100.0, peak=10.0, sigmas=6.0)
    peaked = threshold(10.0, 10.0, 50, 10.0, 0.0, 3.0, 1.0, var=0.0, peak=80.0, sigmas=6.0)
    assert calm == pytest.approx(30.0)
    assert bursty == pytest.approx(10.0 + 60.0)
    assert peaked == pytest.approx(120.0)


def test_limit_is_cached_per_window() -> None:
    r = Rate()
    r.add(0.0, 10.0, 1, None)
    first = r.limit(20.0, 10.0, 5.0, 1.0)
    r.fast = 1e6
    assert r.limit(20.0, 10.0, 5.0, 1.0) == first
    r.add(10.0, 10.0, 1, None)
    assert r.limit(20.0, 10.0, 5.0, 1.0) != first
