"""BOLA/BFLA decisions of the request-side authz filter, table-driven."""

from __future__ import annotations

import asyncio
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import (
    AuthUnavailable,
    Forbidden,
    ObjectForbidden,
    ObjectNotFound,
    StorageError,
    Unauthenticated,
)
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.authz.filter import AuthzFilter, served_key
from cpragate.testing import make_exchange, make_request

SUPPORT = Identity("support-app", "service_provider", "api_key", "cpg_a", frozenset({"customers:read"}), frozenset({"agent"}),
                   MappingProxyType({"tenants": ("t1",)}), MappingProxyType({"sub": "42"}))
PARTNER = Identity("partner", "third_party", "api_key", "cpg_b", frozenset({"orders:read"}))


def route(rule: dict[str, Any] | None) -> RouteInfo:
    return RouteInfo("r", "/r/{id}", ("GET",), "o", settings=SimpleNamespace(authz=None if rule is None else AuthzRule.model_validate(rule)))


def decide(rule: dict[str, Any] | None, ident: Identity | None, target: str = "/r/42", params: dict[str, str] | None = None,
           cfg: dict[str, Any] | None = None, ctx: FilterContext | None = None) -> Any:
    f = AuthzFilter(AuthzConfig.model_validate(cfg or {}), ctx or FilterContext(clock=FakeClock()))
    ex = make_exchange(make_request("GET", target), route=route(rule))
    ex.params = params if params is not None else {"id": "42"}
    ex.identity = ident
    return asyncio.run(f.on_request(ex))


@pytest.mark.parametrize(
    ("rule", "ident", "expect", "why"),
    [
        (None, None, CONTINUE, ""),
        (None, SUPPORT, Forbidden, "authz:no-rule"),
        ({"anonymous": True}, None, CONTINUE, ""),
        ({"scopes": ["customers:read"]}, None, Unauthenticated, "authz:identity-required"),
        ({"scopes": ["customers:read"]}, SUPPORT, CONTINUE, ""),
        ({"scopes": ["customers:read"]}, PARTNER, Forbidden, "authz:scope"),
        ({"scopes": ["customers:read", "customers:write"]}, SUPPORT, Forbidden, "authz:scope"),
        ({"roles": ["admin"]}, SUPPORT, Forbidden, "authz:role"),
        ({"roles": ["admin", "agent"]}, SUPPORT, CONTINUE, ""),
        ({"purposes": ["service_provider", "contractor"]}, PARTNER, Forbidden, "authz:purpose"),
        ({"consumers": ["partner"]}, SUPPORT, Forbidden, "authz:consumer"),
        ({"objects": [{"param": "path.id", "equals": "claims.sub"}]}, SUPPORT, CONTINUE, ""),
        ({"objects": [{"param": "path.id", "equals": "claims.sub"}]}, PARTNER, ObjectNotFound, "authz:object:path.id"),
        ({"objects": [{"param": "query.tenant", "in": "consumer.tenants"}]}, SUPPORT, ObjectNotFound, "authz:object:query.tenant:absent"),
        ({"objects": [{"param": "query.tenant", "in": "consumer.tenants", "required": False}]}, SUPPORT, CONTINUE, ""),
        ({"objects": [{"param": "path.id", "equals": "claims.sub"}], "deny_objects_as": "forbidden"}, PARTNER, ObjectForbidden, "authz:object:path.id"),
    ],
)
def test_matrix(rule: dict[str, Any] | None, ident: Identity | None, expect: Any, why: str) -> None:
    v = decide(rule, ident)
    if expect is CONTINUE:
        assert v is CONTINUE
    else:
        assert isinstance(v, Deny) and v.error is expect and v.rule == why


def test_repeated_query_params_must_all_match() -> None:
    rule = {"objects": [{"param": "query.tenant", "in": "consumer.tenants"}]}
    assert decide(rule, SUPPORT, "/r/1?tenant=t1") is CONTINUE
    assert isinstance(decide(rule, SUPPORT, "/r/1?tenant=t1&tenant=t2"), Deny)


def test_unruled_routes_can_allow_authenticated() -> None:
    assert decide(None, SUPPORT, cfg={"unruled_routes": "allow_authenticated"}) is CONTINUE


def test_served_ids_required() -> None:
    ctx = FilterContext(clock=FakeClock())
    rule = {"served_ids": {"namespace": "c", "require": "path.id"}}
    v = decide(rule, SUPPORT, ctx=ctx)
    assert isinstance(v, Deny) and v.rule == "authz:served-ids" and v.error is ObjectNotFound
    f = AuthzFilter(AuthzConfig(), ctx)
    asyncio.run(f.local_served.add(served_key("support-app", "c"), ["42"], 10, 60))
    assert decide(rule, SUPPORT, ctx=ctx) is CONTINUE
    assert isinstance(decide(rule, PARTNER, ctx=ctx), Deny)  # learned per consumer


class Down:
    async def contains(self, key: str, object_id: str) -> bool:
        raise StorageError("down")

    async def add(self, key: str, ids: list[str], max_ids: int, ttl: float) -> None:
        raise StorageError("down")


def test_served_ids_store_failure() -> None:
    rule = {"served_ids": {"namespace": "c", "require": "path.id"}}
    ctx = FilterContext(clock=FakeClock(), stores=SimpleNamespace(served=Down()))
    v = decide(rule, SUPPORT, ctx=ctx)
    assert isinstance(v, Deny) and v.error is AuthUnavailable
    v = decide(rule, SUPPORT, ctx=ctx, cfg={"on_error": "allow"})
    assert isinstance(v, Deny) and v.rule == "authz:served-ids"  # local ids only: still unknown here
