"""Authorization's fast path (compiled in the ``dataplane`` group): the same verdict as the
awaited ``on_request`` for every kind of rule, and None only for a served-id requirement."""

from __future__ import annotations

import asyncio
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.authz.fastpath import RulePlan
from cpragate.filters.authz.filter import AuthzFilter
from cpragate.testing import make_exchange, make_request

SUPPORT = Identity("support-app", "service_provider", "api_key", "cpg_a", frozenset({"customers:read"}), frozenset({"agent"}),
                   MappingProxyType({"tenants": ("t1",)}), MappingProxyType({"sub": "42"}))  # fmt: skip
PARTNER = Identity("partner", "third_party", "api_key", "cpg_b", frozenset({"orders:read"}))

RULES: list[dict[str, Any] | None] = [
    None,
    {"anonymous": True},
    {"scopes": ["customers:read"]},
    {"scopes": ["customers:read", "customers:write"]},
    {"roles": ["admin"]},
    {"roles": ["admin", "agent"]},
    {"purposes": ["service_provider", "contractor"]},
    {"consumers": ["partner"]},
    {"consumers": ["support-app"], "purposes": ["service_provider"], "scopes": ["customers:read"], "roles": ["agent"]},
    {"objects": [{"param": "path.id", "equals": "claims.sub"}]},
    {"scopes": ["customers:read"], "objects": [{"param": "path.id", "equals": "claims.sub"}]},
]


def route(rule: dict[str, Any] | None) -> RouteInfo:
    return RouteInfo("r", "/r/{id}", ("GET",), "o", settings=SimpleNamespace(authz=None if rule is None else AuthzRule.model_validate(rule)))


@pytest.mark.parametrize("cfg", [{}, {"unruled_routes": "allow_authenticated"}])
@pytest.mark.parametrize("ident", [None, SUPPORT, PARTNER], ids=["anonymous", "support", "partner"])
@pytest.mark.parametrize("rule", RULES)
def test_fast_and_awaited_verdicts_agree(rule: dict[str, Any] | None, ident: Identity | None, cfg: dict[str, Any]) -> None:
    f = AuthzFilter(AuthzConfig.model_validate(cfg), FilterContext(clock=FakeClock()))
    r = route(rule)
    got = []
    for fast in (True, False, True):  # the second fast run reads the route's cached plan
        ex = make_exchange(make_request("GET", "/r/42"), route=r)
        ex.params = {"id": "42"}
        ex.identity = ident
        got.append(f.request_now(ex) if fast else asyncio.run(f.on_request(ex)))
    assert got[0] == got[1] == got[2]
    assert len(f.fast.plans) == 1


def test_a_served_id_requirement_awaits_and_plans_follow_the_route_object() -> None:
    f = AuthzFilter(AuthzConfig(), FilterContext(clock=FakeClock()))
    need = route({"served_ids": {"namespace": "orders", "require": "path.id"}})
    ex = make_exchange(make_request("GET", "/r/42"), route=need)
    ex.identity = SUPPORT
    assert f.request_now(ex) is None and not ex.decisions
    p = RulePlan(AuthzRule.model_validate({"scopes": ["a", "b"], "consumers": ["x"]}))
    assert p.simple and not p.awaits and p.scopes == ("a", "b") and p.consumers == frozenset({"x"})
    assert not RulePlan(None).simple


def test_owner_plans_follow_the_route_settings_and_check_reads_the_shared_body() -> None:
    from cpragate.core.verdict import CONTINUE, Deny
    from cpragate.errors import ObjectNotFound
    from cpragate.filters.authz.fastpath import UNREAD, OwnerFast, owner_value
    from cpragate.filters.authz.owner import OwnerCheckFilter
    from cpragate.testing import make_response

    owner = {"owner": [{"field": "/tenant_id", "in": "consumer.tenants"}]}
    f = OwnerCheckFilter(AuthzConfig(deny_objects_as="not_found"), FilterContext(clock=FakeClock()))
    assert f.response_now == f.fast.response_now  # bound: no Python frame in between
    fast: OwnerFast = f.fast
    r = route(owner)
    p = fast.plan(r)
    assert fast.plan(r) is p and p.checks == (("/tenant_id", "consumer.tenants", False, False),)
    assert p.upstream_404 and not p.learns
    r.settings = SimpleNamespace(authz=AuthzRule.model_validate({**owner, "deny_objects_as": "forbidden"}))
    p2 = fast.plan(r)
    assert p2 is not p and not p2.upstream_404  # a reloaded rule: a new plan
    ex = make_exchange(make_request("GET", "/r/1"), route=route(owner))
    ex.identity = SUPPORT
    ex.response = make_response(200, {"content-type": "application/json"}, b'{"tenant_id": "t1"}')
    verdict, doc = fast.check(ex, fast.plan(ex.route))
    assert verdict is CONTINUE and doc == {"tenant_id": "t1"} and ex.response_json is not None
    ex.response = make_response(404, {}, b"")
    verdict, doc = fast.check(ex, fast.plan(ex.route))
    assert isinstance(verdict, Deny) and verdict.error is ObjectNotFound and doc is UNREAD
    assert [owner_value(v) for v in ("a", 7, True, None, 1.0, [1])] == ["a", "7", None, None, None, None]
