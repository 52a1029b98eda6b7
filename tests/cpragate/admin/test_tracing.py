"""Spans per exchange with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cpragate.admin.tracing import start_tracing
from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.filters.metrics.config import MetricsConfig, TracingConfig
from cpragate.filters.metrics.filter import MetricsFilter
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

R = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_span_per_exchange_parented_on_traceparent_without_values() -> None:
    exporter = InMemorySpanExporter()
    tracer = start_tracing(TracingConfig(enabled=True, service_name="gw-test"), exporter=exporter)
    clock = FakeClock()
    f = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=clock))
    f.metrics.tracer = tracer
    ex = make_exchange(make_request("GET", "/v1/customers/42?ssn=123-45-6789", headers={"traceparent": PARENT}), route=R)
    ex.started = clock.monotonic()
    clock.advance(0.02)
    ex.response = make_response(200)
    ex.outcome = "served"
    ex.identity = Identity("support-app", "service_provider", "api_key", "cpg_x")
    ex.pii = Annotations()
    ex.pii.add("us_ssn", "identifiers", True, "mask", 1)
    asyncio.run(f.on_complete(ex))
    bad = make_exchange(make_request("GET", "/nope"))
    bad.started = clock.monotonic()
    bad.response = make_response(502)
    bad.outcome = "error"
    asyncio.run(f.on_complete(bad))
    tracer.shutdown()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /v1/customers/{id}", "GET"]
    s = spans[0]
    assert s.kind == SpanKind.SERVER and s.resource.attributes["service.name"] == "gw-test"
    assert format(s.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert s.parent is not None and format(s.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert abs(s.end_time - s.start_time - 20_000_000) < 1000  # float seconds: within a microsecond
    a = dict(s.attributes or {})
    assert a["http.route"] == "/v1/customers/{id}" and a["http.response.status_code"] == 200
    assert a["cpragate.consumer"] == "support-app" and list(a["cpragate.pi.categories"]) == ["identifiers"]
    assert "42" not in repr(a) and "123-45-6789" not in repr(a)
    assert spans[1].status.status_code == StatusCode.ERROR and spans[1].parent is None
