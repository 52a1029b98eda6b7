"""The metrics observer: requests, latency, refusals, PI served, timeline, tracing hook."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.filters.metrics.config import MetricsConfig
from cpragate.filters.metrics.filter import UNROUTED, MetricsFilter
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

R = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")


def run(f: MetricsFilter, clock: FakeClock, route: RouteInfo | None, status: int, outcome: str = "served",
        took: float = 0.004, **kw: Any) -> Exchange:
    ex = make_exchange(make_request("GET", "/v1/customers/7"), route=route)
    ex.started = clock.monotonic()
    clock.advance(took)
    ex.response = make_response(status)
    ex.outcome = outcome
    for k, v in kw.items():
        setattr(ex, k, v)
    asyncio.run(f.on_complete(ex))
    return ex


def test_counts_latency_denials_and_pi() -> None:
    clock = FakeClock()
    f = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=clock))
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "mask", 2)
    ann.add("email", "identifiers", False, "allow", 1)
    run(f, clock, R, 200, pii=ann, bytes_out=120)
    ex = make_exchange(make_request("GET", "/nope"))
    ex.started = clock.monotonic()
    ex.response = make_response(404)
    ex.outcome = "denied"
    ex.error_code = "CPG-ROUTE-001"
    ex.decide("gateway", "deny", "routing")
    asyncio.run(f.on_complete(ex))
    denied = run(f, clock, R, 403, outcome="denied", error_code="CPG-AUTH-002")
    denied.decisions.clear()
    m = f.metrics
    assert m.requests.get(("getCustomer", "GET", "200")) == 1 and m.requests.get((UNROUTED, "GET", "404")) == 1
    assert m.latency.count(("getCustomer", "200")) == 1
    assert m.denials.get(("CPG-ROUTE-001", "gateway")) == 1 and m.denials.get(("CPG-AUTH-002", "gateway")) == 1
    assert m.pi_served.get(("identifiers",)) == 3 and m.spi_served.get(("getCustomer",)) == 2
    assert m.bytes_out.get(("getCustomer",)) == 120
    text = m.render()
    assert 'cpragate_request_duration_seconds_bucket{route="getCustomer",status="200",le="0.005"} 1' in text
    assert 'cpragate_request_duration_seconds_bucket{route="getCustomer",status="200",le="0.0025"} 0' in text
    pts = m.timeline.points(clock.time())
    assert pts[-1][1:] == (3, 2)


def test_pi_of_refused_exchanges_is_not_counted_as_served() -> None:
    clock = FakeClock()
    f = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=clock))
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "block", 1)
    run(f, clock, R, 502, outcome="denied", pii=ann, error_code="CPG-PII-006")
    assert f.metrics.pi_served.values == {}


def test_tracer_gets_each_exchange_with_its_times() -> None:
    clock = FakeClock()
    stores = SimpleNamespace(metrics=None)
    f = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=clock, stores=stores))
    seen: list[tuple[str, int, int]] = []
    f.metrics.tracer = SimpleNamespace(record=lambda ex, s, e: seen.append((ex.request_id, s, e)))
    run(f, clock, R, 200, took=0.25)
    (rid, start, end), = seen
    assert rid == "test-1" and end - start == 250_000_000 and end == int(clock.time() * 1e9)
    assert stores.metrics is f.metrics  # kept in the stores across reloads


def test_reload_with_new_buckets_keeps_counters() -> None:
    clock = FakeClock()
    stores = SimpleNamespace(metrics=None)
    f1 = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=clock, stores=stores))
    run(f1, clock, R, 200)
    f2 = MetricsFilter(MetricsConfig(enabled=True, buckets=[0.1, 1.0]), FilterContext(clock=clock, stores=stores))
    assert f2.metrics is not f1.metrics and f2.metrics.requests.get(("getCustomer", "GET", "200")) == 1
    assert f2.metrics.latency.buckets == (0.1, 1.0)
