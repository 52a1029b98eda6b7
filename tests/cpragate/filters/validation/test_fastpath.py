"""Conformance's compiled fast path: the common case decided here, the rest handed over unchanged."""

from __future__ import annotations

from typing import Any

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.validation.conformance import ConformanceFilter
from cpragate.filters.validation.fastpath import ConformanceFast, conformance_settings
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
    fast = ConformanceFast(filt.cfg, slow)
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
