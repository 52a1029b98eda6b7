"""The metrics observer's compiled per-exchange work: label tuples made once, same counts."""

from __future__ import annotations

from cpragate.admin.metrics import Metrics
from cpragate.core.clock import FakeClock
from cpragate.core.route import RouteInfo
from cpragate.filters.metrics import fastpath
from cpragate.filters.metrics.fastpath import UNROUTED, MetricsFast
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

R = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")


def observe(fast: MetricsFast, clock: FakeClock, method: str, status: int, route: RouteInfo | None = R,
            pii: Annotations | None = None) -> None:  # fmt: skip
    ex = make_exchange(make_request(method, "/v1/customers/7"), route=route)
    ex.started = clock.monotonic()
    clock.advance(0.002)
    ex.response = make_response(status)
    ex.outcome = "served"
    ex.bytes_out = 10
    ex.pii = pii
    assert fast.complete_now(ex) is True  # the filter's complete_now: the whole phase


def test_label_tuples_are_made_once_per_route_status_and_method() -> None:
    clock = FakeClock()
    m = Metrics()
    fast = MetricsFast(m, clock.time, clock.monotonic)
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "mask", 2)
    ann.add("geo", "geolocation", True, "mask", 1)
    for _ in range(3):
        observe(fast, clock, "GET", 200, pii=ann)
    observe(fast, clock, "HEAD", 200)
    observe(fast, clock, "GET", 404)
    observe(fast, clock, "GET", 200, route=None)
    assert m.requests.values == {
        ("getCustomer", "GET", "200"): 3, ("getCustomer", "HEAD", "200"): 1, ("getCustomer", "GET", "404"): 1,
        (UNROUTED, "GET", "200"): 1,
    }  # fmt: skip
    assert m.latency.count(("getCustomer", "200")) == 4 and m.latency.count(("getCustomer", "404")) == 1
    assert m.bytes_out.values == {("getCustomer",): 50, (UNROUTED,): 10}
    assert m.pi_served.values == {("identifiers",): 6, ("geolocation",): 3}
    assert m.spi_served.values == {("getCustomer",): 9}
    # what each route adds to is found once: the counters' cells, the histogram's series
    keys = fast.routes["getCustomer"]
    assert set(keys.requests) == {"GET", "HEAD"} and set(keys.requests["GET"]) == {200, 404}
    assert keys.requests["GET"][200] is m.requests.cells[("getCustomer", "GET", "200")]
    assert keys.latency[200] is m.latency.series[("getCustomer", "200")] and keys.one == ("getCustomer",)
    assert keys.bytes is m.bytes_out.cells[("getCustomer",)] and keys.spi is m.spi_served.cells[("getCustomer",)]
    assert fast.categories["identifiers"] is m.pi_served.cells[("identifiers",)]


def test_a_full_collector_counts_each_observation_as_dropped() -> None:
    clock = FakeClock()
    m = Metrics()
    m.requests.max_series = m.latency.max_series = m.bytes_out.max_series = 1
    fast = MetricsFast(m, clock.time, clock.monotonic)
    observe(fast, clock, "GET", 200)
    for _ in range(3):
        observe(fast, clock, "GET", 404)
        observe(fast, clock, "GET", 200, route=None)
    assert m.requests.values == {("getCustomer", "GET", "200"): 1} and m.requests.dropped == 6
    assert list(m.latency.series) == [("getCustomer", "200")] and m.latency.dropped == 6
    assert m.bytes_out.values == {("getCustomer",): 40} and m.bytes_out.dropped == 3

def test_key_caches_are_bounded() -> None:
    clock = FakeClock()
    m = Metrics()
    fast = MetricsFast(m, clock.time, clock.monotonic)
    for i in range(fastpath._MAX_KEYS + 5):
        observe(fast, clock, "GET", 200, route=RouteInfo(f"r{i}", "/x", ("GET",), "api"))
    assert len(fast.routes) <= fastpath._MAX_KEYS
    assert sum(m.requests.values.values()) + m.requests.dropped == fastpath._MAX_KEYS + 5
