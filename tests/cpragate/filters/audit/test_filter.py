from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import AuditError, AuditSpoolFull
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings
from cpragate.filters.audit.filter import AuditFilter, exchange_annotations, json_subjects
from cpragate.testing import make_exchange, make_request, make_response, run_filter


class FakeTrail:
    instance_id = "t-0"

    def __init__(self, full: bool = False) -> None:
        self.full = full
        self.records: list[list[Any]] = []

    def lookup(self, value: str) -> str:
        return "L(" + value + ")"

    async def begin(self, record: list[Any]) -> int | None:
        if self.full:
            return None
        self.records.append(record)
        return 100 + len(self.records)

    async def complete(self, record: list[Any]) -> bool:
        self.records.append(record)
        return True

    async def event(self, record: list[Any]) -> bool:
        self.records.append(record)
        return True


def ctx(trail: FakeTrail) -> FilterContext:
    return FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=trail))


def route(**audit: Any) -> RouteInfo:
    settings = SimpleNamespace(audit=AuditRouteSettings(**audit) if audit else None)
    return RouteInfo("gc", "/v1/customers/{id}", ("GET",), "o", personal=True, settings=settings)


def test_begin_before_forwarding_and_completion_after() -> None:
    trail = FakeTrail()
    ex = make_exchange(make_request("GET", "/v1/customers/42?ssn=1"), route=route(subject_param="id"))
    ex.params = {"id": "42"}
    ex.identity = Identity(consumer="acme", purpose="service_provider", method="api_key", credential_id="ak_1")
    run = run_filter(AuditFilter, {"enabled": True}, ex, make_response(200, body=b"{}"), ctx(trail))
    assert run.request is CONTINUE and ex.audit == 101
    b, c = trail.records
    assert b[0] == "b" and b[2] == "test-1" and b[4] == "/v1/customers/{id}"
    assert b[6] == [["id", "L(42)"]] and b[7] == ["L(42)"]
    assert b[8:11] == ["acme", "api_key", "service_provider"]
    assert c[0] == "c" and c[1] == 101 and c[3] == 200
    flat = repr(trail.records)
    assert "ssn" not in flat and "ak_1" not in flat  # no query string, no credential id


def test_full_spool_refuses_required_routes_and_still_records() -> None:
    trail = FakeTrail(full=True)
    ex = make_exchange(route=route())
    run = run_filter(AuditFilter, {"enabled": True}, ex, None, ctx(trail))
    assert isinstance(run.request, Deny) and run.request.error is AuditSpoolFull
    (e,) = trail.records
    assert e[0] == "e"


def test_full_spool_on_optional_route_forwards() -> None:
    trail = FakeTrail(full=True)
    run = run_filter(AuditFilter, {"enabled": True}, make_exchange(route=route(required=False)), make_response(200), ctx(trail))
    assert run.request is CONTINUE and trail.records[0][0] == "e"


def test_refused_before_begin_gets_one_event() -> None:
    trail = FakeTrail()
    f = AuditFilter(AuditConfig(enabled=True), ctx(trail))
    ex = make_exchange(make_request("GET", "/nope"))
    ex.outcome, ex.error_code = "denied", "CPG-ROUTE-001"
    ex.response = make_response(404)
    import asyncio

    asyncio.run(f.on_complete(ex))
    (e,) = trail.records
    assert e[0] == "e" and e[1][4] is None and e[2][3] == 404 and e[2][5] == "CPG-ROUTE-001"


def test_subjects_from_the_response_body() -> None:
    trail = FakeTrail()
    ex = make_exchange(route=route(subject_json=["$.items[*].customer_id"]))
    body = b'{"items": [{"customer_id": 7}, {"customer_id": "8"}, {"customer_id": 7}]}'
    run_filter(AuditFilter, {"enabled": True}, ex, make_response(200, {"content-type": "application/json"}, body), ctx(trail))
    assert trail.records[-1][8] == ["L(7)", "L(8)"]


def test_json_subjects_bounds_and_shapes() -> None:
    out: list[str] = []
    json_subjects({"a": [{"b": 1}, {"b": True}, {"c": 2}], "d": {"x": "y"}}, ("a", None, "b"), out)
    json_subjects({"d": {"x": "y"}}, ("d", None), out)
    json_subjects([5, 6], (1,), out)
    assert out == ["1", "y", "6"]


def test_applies_to() -> None:
    f = AuditFilter(AuditConfig(enabled=True, routes="personal"), ctx(FakeTrail()))
    plain = RouteInfo("h", "/health", ("GET",), "o")
    assert not f.applies_to(plain) and f.applies_to(route())
    assert not f.applies_to(route(enabled=False))


def test_annotations_are_counts_never_values() -> None:
    from cpragate.pii import Annotations

    ex = make_exchange()
    assert exchange_annotations(ex) is None
    ann = Annotations()
    ann.add("US_SSN", "identifiers", True, "mask", 2)
    ex.pii = ann
    got = exchange_annotations(ex)
    assert got == {"pii": {"categories": {"identifiers": 2}, "entities": {"US_SSN": 2}, "spi": 2, "actions": {"mask": 2}}}


def test_needs_an_open_trail() -> None:
    with pytest.raises(AuditError):
        AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock()))
