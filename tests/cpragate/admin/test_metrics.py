"""The hand-written collectors and their Prometheus text exposition."""

from __future__ import annotations

import pytest

from cpragate.admin.metrics import Counter, Gauge, Histogram, Metrics, Timeline, escape_label


def test_counter_render_and_series_limit() -> None:
    c = Counter("x_total", "Things.", ("route",), max_series=2)
    c.inc(("a",))
    c.inc(("a",), 2)
    c.inc(('b"\n\\',))
    c.inc(("c",))
    assert c.get(("a",)) == 3 and c.dropped == 1
    assert c.render() == [
        "# HELP x_total Things.", "# TYPE x_total counter", 'x_total{route="a"} 3', 'x_total{route="b\\"\\n\\\\"} 1',
    ]


def test_histogram_cumulative_buckets() -> None:
    h = Histogram("lat_seconds", "Latency.", ("r",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(("a",), v)
    assert h.count(("a",)) == 4
    assert h.render()[2:] == [
        'lat_seconds_bucket{r="a",le="0.1"} 2', 'lat_seconds_bucket{r="a",le="1"} 3', 'lat_seconds_bucket{r="a",le="+Inf"} 4',
        'lat_seconds_sum{r="a"} 3.65', 'lat_seconds_count{r="a"} 4',
    ]
    with pytest.raises(ValueError):
        Histogram("h", "h", (), buckets=(1.0, 0.1))


def test_gauges_read_at_scrape_and_a_broken_reader_does_not_break_the_scrape() -> None:
    m = Metrics()
    m.add_gauge(Gauge("g", "A gauge.", ("k",), lambda: {("x",): 2.5}))
    m.add_gauge(Gauge("bad", "Broken.", (), lambda: 1 / 0))  # type: ignore[arg-type,return-value]
    text = m.render()
    assert 'g{k="x"} 2.5' in text and "# bad: could not be read" in text
    assert text.endswith("cpragate_metrics_dropped_series_total 0\n")
    assert "# TYPE cpragate_requests_total counter" in text


def test_timeline_ring_forgets_old_steps() -> None:
    t = Timeline(step=10, size=3)
    t.add(100.0, False)
    t.add(105.0, True)
    t.add(125.0, False)
    assert t.points(125.0) == [(100.0, 2, 1), (110.0, 0, 0), (120.0, 1, 0)]
    t.add(131.0, False)  # reuses the ring slot of step 100
    assert t.points(131.0) == [(110.0, 0, 0), (120.0, 1, 0), (130.0, 1, 0)]


def test_escape_label() -> None:
    assert escape_label('a"b') == 'a\\"b'


def test_histogram_bucket_is_the_first_upper_bound_at_or_above_the_value() -> None:
    from bisect import bisect_left

    buckets = (0.001, 0.01, 0.1, 1.0)
    h = Histogram("h_seconds", "H.", (), buckets=buckets)
    values = (0.0, 0.0005, 0.001, 0.0011, 0.01, 0.5, 1.0, 7.0, float("nan"))
    for v in values:
        h.observe((), v)
    expect = [0.0] * (len(buckets) + 1)
    for v in values:
        expect[bisect_left(buckets, v)] += 1
    assert h.series[()][:-1] == expect


def test_counter_cells_are_the_counts_and_a_full_counter_hands_out_none() -> None:
    c = Counter("x_total", "Things.", ("route",), max_series=1)
    cell = c.cell(("a",))
    assert cell is not None and c.cell(("a",)) is cell
    cell.value += 2
    c.inc(("a",), 0.5)
    assert c.get(("a",)) == 2.5 and c.values == {("a",): 2.5} and c.dropped == 0
    assert c.cell(("b",)) is None and c.dropped == 1
    c.inc(("b",))
    assert c.dropped == 2 and c.get(("b",)) == 0.0 and c.values == {("a",): 2.5}


def test_histogram_series_of_and_add_are_observe() -> None:
    h = Histogram("h_seconds", "H.", ("r",), buckets=(0.1, 1.0), max_series=1)
    s = h.series_of(("a",))
    assert s is not None and h.series_of(("a",)) is s
    h.add(s, 0.5)
    h.observe(("a",), 0.05)
    assert h.series[("a",)] == [1.0, 1.0, 0.0, 0.55]
    assert h.series_of(("b",)) is None and h.dropped == 1
    h.observe(("b",), 1.0)
    assert h.dropped == 2 and list(h.series) == [("a",)]
