"""Minimization's compiled fast path: "nothing to do" answered here, a caller's rule handed over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.minimize.config import MinimizeConfig, MinimizeRouteSettings
from cpragate.filters.minimize.fastpath import MinimizeFast, MinimizePlan, Policy, Side
from cpragate.filters.minimize.filter import MinimizeFilter
from cpragate.testing import FakeClock, make_exchange, make_request, make_response

RULES = {
    "rules": [
        {"purposes": ["third_party"], "response": {"allow": ["id"]}},
        {"consumers": ["writer"], "request": {"deny": ["ssn"]}},
    ]
}


@dataclass
class Settings:
    minimize: MinimizeRouteSettings


def _route() -> RouteInfo:
    return RouteInfo("r", "/c/{id}", ("GET", "POST"), "api", settings=Settings(MinimizeRouteSettings.model_validate(RULES)))


def _ident(consumer: str, purpose: str) -> Identity:
    return Identity(consumer=consumer, purpose=purpose, method="api_key", credential_id="k")  # type: ignore[arg-type]


def test_only_a_caller_with_a_rule_for_the_side_is_handed_over() -> None:
    seen: list[tuple[str, str, Any]] = []

    def request(ex: Exchange, plan: MinimizePlan, policy: Policy, side: Side) -> Verdict:
        seen.append(("request", policy.label, side))
        return CONTINUE

    def response(ex: Exchange, plan: MinimizePlan, policy: Policy, side: Side) -> Verdict:
        seen.append(("response", policy.label, side))
        return CONTINUE

    fast = MinimizeFast(MinimizeConfig(), request, response)
    route = _route()
    body = orjson.dumps({"id": 1, "ssn": "x"})
    for who, want in (
        (_ident("a", "third_party"), [("response", "purpose:third_party")]),
        (_ident("writer", "service_provider"), [("request", "consumer:writer")]),
        (_ident("b", "service_provider"), []),
        (None, []),
    ):
        seen.clear()
        ex = make_exchange(make_request("POST", "/c/1", {"content-type": "application/json"}, body), route=route)
        ex.identity = who
        assert fast.request_now(ex) is CONTINUE
        ex.response = make_response(200, {"content-type": "application/json"}, body)
        assert fast.response_now(ex) is CONTINUE
        assert [(phase, label) for phase, label, _ in seen] == want
        assert all(isinstance(side, Side) for _, _, side in seen)
        assert ex.minimize is None and not ex.decisions  # nothing recorded by the fast path itself
    # no body, a gateway-made answer, an unrouted exchange: nothing to do
    seen.clear()
    ex = make_exchange(make_request("GET", "/c/1"), route=route)
    ex.identity = _ident("a", "third_party")
    ex.response = make_response(200, {"content-type": "application/json"}, b"")
    assert fast.request_now(ex) is CONTINUE and fast.response_now(ex) is CONTINUE
    ex.response = make_response(200, {"content-type": "application/json"}, body)
    ex.error_code = "CPG-X"
    assert fast.response_now(ex) is CONTINUE and not seen
    assert fast.plan(None) is None


def test_the_filter_binds_the_compiled_methods_and_plans_follow_the_settings() -> None:
    from cpragate.core.filter import FilterContext

    f = MinimizeFilter(MinimizeConfig(), FilterContext(clock=FakeClock()))
    assert f.request_now == f._fast.request_now and f.response_now == f._fast.response_now
    assert type(f).implements("request_now") and type(f).implements("response_now")
    route = _route()
    plan = f._plan(route)
    assert plan is not None and f._plan(route) is plan and f._plans[id(route)] is plan
    route.settings = Settings(MinimizeRouteSettings.model_validate(RULES))
    assert f._plan(route) is not plan
