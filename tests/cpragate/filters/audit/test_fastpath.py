"""The audit filter's synchronous path (fastpath.py): spooled directly into the writer's
spool, with the same records as the coroutine path every other AuditLog gets."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from cpragate.audit.keys import load_signing_key
from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import AuditSpoolFull
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings
from cpragate.filters.audit.fastpath import AuditFast, AuditPlan, exchange_annotations, ms3
from cpragate.filters.audit.filter import AuditFilter
from cpragate.storage.audit_spool import Spool
from cpragate.storage.audit_writer import AuditWriter, WriterOptions
from cpragate.testing import make_exchange, make_request, make_response, run_pipeline

from .test_filter import FakeTrail  # an AuditLog that is not the spooling writer


def writer(tmp: Path, **spool: Any) -> AuditWriter:
    s = Spool(tmp / "spool", fsync_window=0, **spool)
    w = AuditWriter(s, os.urandom(32), load_signing_key(None, tmp / "k.pem"), WriterOptions(sink_url="sqlite:///unused"))
    w.lookup = lambda value: "L(" + value + ")"  # type: ignore[method-assign]
    return w


def route(**audit: Any) -> RouteInfo:
    return RouteInfo("gc", "/v1/customers/{id}", ("GET",), "o", personal=True,
                     settings=SimpleNamespace(audit=AuditRouteSettings(**audit) if audit else None))


def exchange(r: RouteInfo | None = None) -> Any:
    ex = make_exchange(make_request("GET", "/v1/customers/42"), route=r or route(subject_param="id"))
    ex.params = {"id": "42"}
    ex.identity = Identity(consumer="acme", purpose="service_provider", method="api_key", credential_id="ak_1")
    return ex


def spooled(w: AuditWriter) -> list[list[Any]]:
    recs, _ = w.spool.read(0, 100)
    return [orjson.loads(r.data) for r in recs]


def test_the_writer_spool_is_appended_to_synchronously_with_the_coroutine_paths_records(tmp_path: Path) -> None:
    w = writer(tmp_path)
    try:
        f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=w)))
        assert f.request_now.__self__ is f._fast  # type: ignore[attr-defined]  # bound to the native path
        ex = exchange()
        run = run_pipeline([f], ex, make_response(200, body=b"{}"))
        assert run.request is CONTINUE and isinstance(ex.audit, int)
        b, c = spooled(w)
        assert c[0] == "c" and c[1] == ex.audit
        # The same exchange through a trail that only has coroutines: identical records.
        trail = FakeTrail()
        g = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=trail)))
        assert g._fast.request_now(exchange()) is None  # no spool: nothing done, the pipeline awaits
        ex2 = exchange()
        run_pipeline([g], ex2, make_response(200, body=b"{}"))
        b2, c2 = orjson.loads(orjson.dumps(trail.records))
        assert b2[1:] == b[1:] and b2[0] == "b"
        assert c2[2:] == c[2:] and c2[1] == 101
    finally:
        w.spool.close()


def test_a_full_spool_refuses_required_routes_and_the_completion_becomes_an_event(tmp_path: Path) -> None:
    w = writer(tmp_path, max_bytes=64 << 10, segment_bytes=16 << 10)
    try:
        f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=w)))
        w.spool.used = w.spool.max_bytes + (1 << 20)  # as if unshipped records filled it
        ex = exchange()
        v = f.request_now(ex)
        assert isinstance(v, Deny) and v.error is AuditSpoolFull and ex.audit is None
        optional = exchange(route(required=False))
        assert f.request_now(optional) is CONTINUE and optional.audit is None
        optional.response = make_response(200)
        asyncio.run(f.on_complete(optional))  # the reserve takes the whole event
        (e,) = spooled(w)
        assert e[0] == "e" and e[1][0] == "b" and e[2][0] == "c"
    finally:
        w.spool.close()


def test_a_refused_completion_is_reported_to_the_writer(tmp_path: Path) -> None:
    w = writer(tmp_path)
    drops: list[int | None] = []
    fast = AuditFast(lambda r: AuditPlan(True, None, ()), str, lambda: 1.0, lambda: 2.0, w.spool.append, drops.append)  # type: ignore[arg-type]
    w.spool.close()  # a closed spool refuses everything
    assert fast.complete_now(exchange()) is None and drops == [None]


def test_response_now_decides_unless_subjects_are_read_from_the_body() -> None:
    trail = FakeTrail()
    f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=trail)))
    ex = exchange(route(subject_json=["$.customer_id"]))
    assert f.response_now(ex) is CONTINUE  # no response yet
    ex.response = make_response(200, {"content-type": "application/json"}, b'{"customer_id": 7}')
    assert f.response_now(ex) is None  # the body is read by on_response
    ex.response = make_response(404, {"content-type": "application/json"}, b'{"customer_id": 7}')
    assert f.response_now(ex) is CONTINUE
    plain = exchange()
    plain.response = make_response(200, {"content-type": "application/json"}, b'{"customer_id": 7}')
    assert f.response_now(plain) is CONTINUE


def test_lookups_are_memoized_and_bounded(monkeypatch: Any) -> None:
    import cpragate.filters.audit.fastpath as fp

    calls: list[str] = []

    def lk(v: str) -> str:
        calls.append(v)
        return "L" + v

    fast = AuditFast(lambda r: AuditPlan(True, None, ()), lk, lambda: 1.0, lambda: 2.0, None, None)
    assert fast.lookup("a") == fast.lookup("a") == "La" and calls == ["a"]
    for i in range(70_000):
        fast.lookup(str(i))
    assert len(fast.lookups) <= fp._MAX_LOOKUPS


def test_annotations_without_findings() -> None:
    assert exchange_annotations(make_exchange()) is None


def _exact(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout (True == 1 but a bool is not an int here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_exact(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(type(k) is str and _exact(a[k], b[k]) for k in a)
    return bool(a == b)


def annotated_exchange(pii_type: Any) -> Any:
    from cpragate.filters.minimize.report import MinimizeReport
    from cpragate.filters.validation.report import ConformanceReport, ValidationReport
    from cpragate.openapi.validator import Violation
    from cpragate.pii import Annotations

    ex = exchange()
    ex.pii = ann = pii_type()
    ann.add("US_SSN", "identifiers", True, "mask", 2)
    ann.add("EMAIL", "Ünïcode ☃", False, None, 1)
    ann.blocked, ann.blocked_by = True, "US_SSN"
    if pii_type is not Annotations:
        ann.request = Annotations()
        ann.request.add("PHONE", "identifiers", False, "allow", 3)
    ex.validation = ValidationReport("op", "monitor", "would_strip", None, (Violation("/body/x", "type"),), ("/body/role",))
    ex.conformance = ConformanceReport("op", "enforce", 200, "removed", {"/items/*/pw": 2}, ())
    ex.minimize = MinimizeReport("consumer:acme", "enforce", {"/a": 1}, {"/ssn": 2})
    ex.audit_subjects = ["L(7)"]
    ex.decide("pii", "annotate", "found=3")
    ex.response = make_response(200)
    ex.outcome = "served"
    return ex


def test_handed_over_records_are_what_the_writer_would_parse_and_share_nothing_live(tmp_path: Path) -> None:
    from cpragate.filters.pii.filter import PiiReport
    from cpragate.pii import Annotations

    for pii_type in (Annotations, PiiReport):
        w = writer(tmp_path / pii_type.__name__)
        try:
            f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=FakeClock(), stores=SimpleNamespace(audit=w)))
            ex = annotated_exchange(pii_type)
            assert f.request_now(ex) is CONTINUE
            assert f.complete_now(ex)
            recs, _ = w.spool.read(0, 10)
            assert len(recs) == 2 and len(w.spool.handed) == 2
            by_pos = {h[0]: h[1] for h in w.spool.handed}
            for r in recs:
                handed = by_pos[r.pos]
                assert _exact(handed, orjson.loads(r.data)), handed
            c = by_pos[recs[1].pos]
            ann = c[7]
            assert ann["pii"]["categories"] == {"identifiers": 2, "Ünïcode ☃": 1} and ann["pii"]["blocked"] == "US_SSN"
            assert set(ann) == {"pii", "validation", "conformance", "minimize"}
            assert ("request" in ann["pii"]) is (pii_type is PiiReport)
            # the exchange's state changes afterwards: the handed record does not
            ex.pii.entities["EMAIL"] += 5
            ex.pii.categories.clear()
            ex.conformance.removed["/x"] = 1
            ex.minimize.response_removed.clear()
            ex.audit_subjects.append("L(8)")
            if pii_type is PiiReport:
                ex.pii.request.entities.clear()
            assert _exact(c, orjson.loads(recs[1].data))
        finally:
            w.spool.close()


def test_annotations_of_unknown_classes_are_read_defensively() -> None:
    ex = make_exchange()
    ex.pii = SimpleNamespace(entities={"EMAIL": 1}, spi=None, request=SimpleNamespace(categories=None))  # type: ignore[assignment]
    assert exchange_annotations(ex) == {"pii": {"categories": {}, "entities": {"EMAIL": 1}, "spi": 0, "actions": {},
                                                "request": {"categories": {}, "entities": {}, "spi": 0}}}


def test_ms3_is_round_to_three_decimals_of_the_milliseconds() -> None:
    import random

    rng = random.Random(7)
    cases = [0.0, 0.0123456, 1.5, 0.000_000_4, 2.999_999_9, 123.456_789_1]
    cases += [rng.uniform(0, 5) for _ in range(2000)] + [rng.uniform(0, 0.01) for _ in range(2000)]
    # as the gateway makes them: a later monotonic reading minus an earlier one, far from zero
    for _ in range(2000):
        a = rng.uniform(1e5, 1e7)
        cases.append((a + rng.uniform(0, 2)) - a)
    for s in cases:
        want = round(s * 1000.0, 3)
        got = ms3(s)
        if abs((s * 1_000_000.0) % 1.0 - 0.5) > 1e-6:  # not a half-microsecond tie: the same double
            assert got == want, (s, got, want)
        else:  # a tie may round the other way: one microsecond apart at most
            assert abs(got - want) <= 0.001 + 1e-12, (s, got, want)
        assert got == round(got, 3)
    assert ms3(0.0123456) == 12.346 and ms3(1.5) == 1500.0 and ms3(0.0) == 0.0
    assert ms3(-0.0015) == -1.5  # (the completion drops a negative latency: a clock step)


def test_a_completion_records_the_latency_in_milliseconds_with_three_decimals(tmp_path: Path) -> None:
    w = writer(tmp_path)
    try:
        clock = FakeClock()
        f = AuditFilter(AuditConfig(enabled=True), FilterContext(clock=clock, stores=SimpleNamespace(audit=w)))
        ex = exchange()
        ex.started = clock.monotonic()
        assert f.request_now(ex) is CONTINUE
        clock.advance(0.0123456)
        ex.response = make_response(200, body=b"{}")
        ex.outcome = "served"
        f._fast.complete_now(ex)
        _, c = spooled(w)
        assert c[0] == "c" and c[-1] == 12.346
    finally:
        w.spool.close()


def test_plans_are_made_once_per_route_and_the_last_route_is_answered_without_the_table() -> None:
    made: list[Any] = []

    def make(r: RouteInfo | None) -> AuditPlan:
        made.append(r)
        return AuditPlan(r is not None and r.name == "a", r.name if r is not None else None, ())

    fast = AuditFast(make, lambda v: v, lambda: 1.0, lambda: 2.0, None, None)
    a, b = route(), route()
    a.name, b.name = "a", "b"
    assert fast.plan(None) is fast.default_plan
    order = [a, a, b, a, None, b, b, a]
    plans = [fast.plan(r) for r in order]
    for r, p in zip(order, plans, strict=True):
        assert p.subject_param == (r.name if r is not None else None)
        assert p is (fast.default_plan if r is None else fast.plans[id(r)])
    assert made == [None, a, b]  # once each: the default, then each route on first sight
    assert fast.last_route is a and fast.last_plan is fast.plans[id(a)]


def test_begin_records_read_an_identity_natively_as_they_read_any_other_object() -> None:
    fast = AuditFast(lambda r: AuditPlan(True, "id", ()), lambda v: "L(" + v + ")", lambda: 1.5, lambda: 2.0, None, None)
    idents: list[Any] = [
        Identity(consumer="acme", purpose="service_provider", method="api_key", credential_id="ak_1"),
        Identity(consumer="Ünï ☃", purpose="third_party", method="jwt", credential_id="k"),
        None,
    ]
    for ident in idents:
        ex = exchange()
        ex.identity = ident
        rec = fast.begin_record(ex, fast.plan(ex.route))
        want = [ident.consumer, ident.method, ident.purpose] if ident is not None else [None, None, None]
        assert rec[8:11] == want
        assert orjson.dumps(rec) == orjson.dumps(
            ["b", 1.5, ex.request_id, "GET", "/v1/customers/{id}", "gc", [["id", "L(42)"]], ["L(42)"], *want,
             ex.client_ip, True])
    # another class (only where the exchange's slot accepts one: the pure-Python source)
    ex = exchange()
    try:
        ex.identity = SimpleNamespace(consumer="acme", method=7)
    except TypeError:
        return  # compiled: the slot holds an Identity or None, read natively
    assert fast.begin_record(ex, fast.plan(ex.route))[8:11] == ["acme", None, None]


def test_the_writers_spool_is_called_natively_and_any_other_append_as_given(tmp_path: Path) -> None:
    from cpragate.filters.pii.filter import PiiReport

    out: dict[str, tuple[list[bytes], list[list[Any]]]] = {}
    for name in ("native", "wrapped"):
        w = writer(tmp_path / name)
        try:
            seen: list[tuple[bytes, bool]] = []

            def wrapped(data: bytes, begin: bool, rec: list[Any], s: Spool = w.spool) -> int | None:
                seen.append((data, begin))
                return s.append(data, begin, rec)

            append: Any = w.append_record if name == "native" else wrapped
            fast = AuditFast(lambda r: AuditPlan(True, "id", ()), w.lookup, lambda: 1.25, lambda: 2.0, append, w.spooled)
            assert (fast.spool is w.spool) is (name == "native")
            for pii_type in (None, PiiReport):
                ex = annotated_exchange(pii_type) if pii_type is not None else exchange()
                ex.started = 1.0
                assert fast.request_now(ex) is CONTINUE
                ex.response = make_response(200, body=b"{}")
                assert fast.complete_now(ex) is None
            recs, _ = w.spool.read(0, 10)
            assert name == "native" or [r.data + b"\n" for r in recs] == [d for d, _ in seen]
            assert [b for _, b in seen] == ([True, False] * 2 if name == "wrapped" else [])
            assert [h[1] for h in w.spool.handed] == [orjson.loads(r.data) for r in recs]
            out[name] = ([r.data for r in recs], [h[1] for h in w.spool.handed])
        finally:
            w.spool.close()
    assert out["native"][0] == out["wrapped"][0] and len(out["native"][0]) == 4
    assert out["native"][1] == out["wrapped"][1]
