"""Conformance's compiled fast path: the common case decided here, the rest handed over unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.filters.validation.conformance import ConformanceFilter
from cpragate.filters.validation.fastpath import ConformanceFast, ValidationFast, conformance_settings
from cpragate.filters.validation.filter import ValidationFilter
from cpragate.filters.validation.report import ValidationReport
from cpragate.testing import make_exchange, make_request, make_response

PETSTORE = """
routes:
  - from_openapi: tests/fixtures/openapi/petstore-expanded-3.0.yaml
    upstream: api
"""


def _exchange(gw: Any, body: bytes, status: int = 200, ct: str = "application/json") -> Exchange:
    m = gw.router.match("GET", "/pets/1")
    ex = make_exchange(make_request("GET", "/pets/1"), route=m.payload)
    ex.response = make_response(status, {"content-type": ct}, body)
    return ex


def test_the_common_case_is_decided_without_the_filter(mini: Any) -> None:
    gw = mini(PETSTORE)
    handed: list[tuple[Exchange, bool]] = []

    def slow(ex: Exchange, unclean: bool) -> Verdict:
        handed.append((ex, unclean))
        return CONTINUE

    filt = gw.filters["conformance"]
    assert isinstance(filt, ConformanceFilter)
    fast = ConformanceFast(filt.cfg, slow=slow)
    ex = _exchange(gw, b'{"id": 1, "name": "a"}')
    assert fast.response_now(ex) is CONTINUE and not handed
    rep = ex.conformance
    assert rep is not None and rep.outcome == "conforming" and rep.status == 200 and rep.mode == "enforce"
    # an undeclared property: handed over once the clean check failed (not asked again)
    ex = _exchange(gw, b'{"id": 1, "name": "a", "password_hash": "x"}')
    assert fast.response_now(ex) is CONTINUE and handed[-1] == (ex, True)
    assert ex.conformance is None and ex.response_json is not None  # only the parse is kept
    # not JSON, no body, an undeclared media type: handed over untouched
    for body, ct in ((b"{", "application/json"), (b"", "application/json"), (b"hi", "text/plain")):
        ex = _exchange(gw, body, ct=ct)
        assert fast.response_now(ex) is CONTINUE and handed[-1] == (ex, False) and ex.conformance is None
    # a gateway-made refusal: nothing to check, nothing handed over
    ex = _exchange(gw, b'{"id": 1}')
    ex.error_code = "CPG-X"
    n = len(handed)
    assert fast.response_now(ex) is CONTINUE and len(handed) == n and ex.conformance is None


def test_plans_follow_the_route_settings_object(mini: Any) -> None:
    gw = mini(PETSTORE)
    filt = gw.filters["conformance"]
    assert isinstance(filt, ConformanceFilter)
    route = gw.router.match("GET", "/pets/1").payload
    plan = filt._fast.plan(route)
    assert plan is not None and filt._fast.plan(route) is plan and filt._plans[id(route)] is plan
    assert conformance_settings(route) is None and conformance_settings(None) is None
    route.settings = route.settings.model_copy()  # a reloaded configuration: a new plan
    assert filt._fast.plan(route) is not plan
    # the filter binds the compiled method: the pipeline calls it with no Python frame between
    assert type(filt).implements("response_now") and filt.response_now == filt._fast.response_now


# --- request validation's fast path ---------------------------------------------------------

MUSEUM = """
routes:
  - from_openapi: tests/fixtures/openapi/museum-3.1.yaml
    upstream: api
"""


def _request(gw: Any, method: str, target: str, body: bytes | None = None) -> Exchange:
    h = {"content-type": "application/json"} if body is not None else {}
    req = make_request(method, target, headers=h, body=body)
    m = gw.router.match(method, req.path)
    assert m, f"{method} {target} is not routed"
    ex = make_exchange(req, route=m.payload)
    ex.params = m.params
    return ex


def _both(gw: Any, method: str, target: str, body: bytes | None = None) -> tuple[Any, Any, Any, Any]:
    """(verdict, exchange) through the bound fast path and through the full request phase."""
    filt = gw.filters["validation"]
    assert isinstance(filt, ValidationFilter)
    a, b = _request(gw, method, target, body), _request(gw, method, target, body)
    return filt.request_now(a), a, filt._request(b), b


def _same(va: Any, a: Exchange, vb: Any, b: Exchange) -> None:
    assert type(va) is type(vb)
    if isinstance(va, Deny):
        assert (va.error, va.rule, va.violations) == (vb.error, vb.rule, vb.violations)  # type: ignore[attr-defined]
    assert a.validation == b.validation and a.decisions == b.decisions


def test_the_common_request_is_decided_without_the_filter(mini: Any) -> None:
    gw = mini(PETSTORE)
    filt = gw.filters["validation"]
    assert isinstance(filt, ValidationFilter)
    handed: list[Exchange] = []

    def slow(ex: Exchange) -> Verdict:
        handed.append(ex)
        return filt._request(ex)

    fast = ValidationFast(slow, filt._fast_plan)
    ex = _request(gw, "GET", "/pets/42")
    assert fast.request_now(ex) is CONTINUE and not handed
    assert ex.validation == ValidationReport("find pet by id", "enforce")
    # not an integer, a query string, a body: handed over, and reported there
    for method, target, body in (("GET", "/pets/abc", None), ("GET", "/pets/1?x=1", None),
                                 ("DELETE", "/pets/1", b"{}")):
        ex = _request(gw, method, target, body)
        fast.request_now(ex)
        assert handed[-1] is ex and ex.validation is not None
    # an operation with query parameters never takes the fast path
    route = gw.router.match("GET", "/pets").payload
    plan = filt._fast_plan(route)
    assert plan is not None and plan.scalars is None
    n = len(handed)
    fast.request_now(_request(gw, "GET", "/pets"))
    assert len(handed) == n + 1


@pytest.mark.parametrize(
    "target",
    ["/pets/1", "/pets/0", "/pets/007", "/pets/-1", "/pets/1.5", "/pets/abc", "/pets/%20", "/pets/1e3",
     "/pets/99999999999999999999999", "/pets/%D9%A1%D9%A2", "/pets/true", "/pets/1?limit=2"],
)
def test_fast_and_full_request_phases_agree(mini: Any, target: str) -> None:
    _same(*_both(mini(PETSTORE), "GET", target))


@given(st.text(alphabet="0123456789-+.eE xa\u0661", min_size=1, max_size=24))
@example("..")  # normalizes away: not routed (found by this test in session 9)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fast_and_full_agree_on_any_path_value(mini: Any, value: str) -> None:
    from urllib.parse import quote

    gw = mini(PETSTORE)
    target = "/pets/" + quote(value, safe="")
    # Routed as the gateway routes it: after normalization ("/pets/%2E%2E" is "/", no pet).
    if not gw.router.match("GET", make_request("GET", target).path):
        return
    _same(*_both(gw, "GET", target))


def test_formats_and_monitor_mode_agree(mini: Any) -> None:
    gw = mini(MUSEUM)
    for target in ("/special-events/3be6453c-03eb-4357-ae5a-984a0e574a54", "/special-events/not-a-uuid"):
        _same(*_both(gw, "GET", target))
    gw = mini(PETSTORE + "    validation: {mode: monitor}\n")
    for target in ("/pets/1", "/pets/abc"):
        va, a, vb, b = _both(gw, "GET", target)
        _same(va, a, vb, b)
        assert va is CONTINUE


def test_renamed_path_parameters_are_read_by_their_route_name(mini: Any) -> None:
    gw = mini("""
routes:
  - path: /v1/animals/{animal}
    methods: [GET]
    upstream: api
    openapi: {spec: tests/fixtures/openapi/petstore-expanded-3.0.yaml, operation: find pet by id}
""")
    filt = gw.filters["validation"]
    route = gw.router.match("GET", "/v1/animals/1").payload
    plan = filt._fast_plan(route)
    assert plan is not None and plan.scalars is not None and [s.key for s in plan.scalars] == ["animal"]
    for target in ("/v1/animals/1", "/v1/animals/x"):
        _same(*_both(gw, "GET", target))


def test_validation_plans_follow_the_route_settings_object(mini: Any) -> None:
    gw = mini(PETSTORE)
    filt = gw.filters["validation"]
    assert isinstance(filt, ValidationFilter)
    route = gw.router.match("GET", "/pets/1").payload
    filt.request_now(_request(gw, "GET", "/pets/1"))
    plan = filt._fast.plans[id(route)]
    filt.request_now(_request(gw, "GET", "/pets/2"))
    assert filt._fast.plans[id(route)] is plan
    route.settings = route.settings.model_copy()  # a reloaded configuration: a new plan
    filt.request_now(_request(gw, "GET", "/pets/3"))
    assert filt._fast.plans[id(route)] is not plan
    # the filter binds the compiled method: the pipeline calls it with no Python frame between
    assert type(filt).implements("request_now") and filt.request_now == filt._fast.request_now


def test_swapped_path_parameter_names_take_the_full_phase(mini: Any, tmp_path: Any) -> None:
    # /r/{y}/{x} bound to /a/{x}/{y}: each route name is the other's spec name; the full phase
    # renames one at a time, so its order decides there and the fast path stays out of it
    spec = tmp_path / "swap.yaml"
    spec.write_text("""
openapi: 3.0.3
info: {title: swap, version: "1"}
paths:
  /a/{x}/{y}:
    get:
      operationId: getA
      parameters:
        - {name: x, in: path, required: true, schema: {type: integer}}
        - {name: y, in: path, required: true, schema: {type: string, pattern: "^[a-z]+$"}}
      responses: {"200": {description: ok}}
""")
    gw = mini(f"""
routes:
  - path: /r/{{y}}/{{x}}
    methods: [GET]
    upstream: api
    openapi: {{spec: {spec}, operation: getA}}
""")
    filt = gw.filters["validation"]
    route = gw.router.match("GET", "/r/1/abc").payload
    assert route.settings.openapi.path_names  # the binding renames both
    plan = filt._fast_plan(route)
    assert plan is not None and plan.scalars is None
    for target in ("/r/1/abc", "/r/abc/1", "/r/1/2", "/r/abc/def"):
        _same(*_both(gw, "GET", target))
