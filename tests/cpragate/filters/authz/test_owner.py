"""Response-side owner check and served-id learning."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson

from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.pipeline import Pipeline
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import ObjectForbidden, ObjectNotFound
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.authz.filter import AuthzFilter
from cpragate.filters.authz.owner import OwnerCheckFilter
from cpragate.testing import make_exchange, make_request, make_response, run_pipeline

from .test_filter import PARTNER, SUPPORT

OWNER = {"scopes": [], "owner": [{"field": "/tenant_id", "in": "consumer.tenants"}]}


def route(rule: dict[str, Any] | None) -> RouteInfo:
    return RouteInfo("r", "/r/{id}", ("GET",), "o", settings=SimpleNamespace(authz=None if rule is None else AuthzRule.model_validate(rule)))


def respond(rule: dict[str, Any], ident: Any, body: Any, status: int = 200, ctx: FilterContext | None = None, method: str = "GET") -> Any:
    f = OwnerCheckFilter(AuthzConfig(), ctx or FilterContext(clock=FakeClock()))
    ex = make_exchange(make_request(method, "/r/1"), route=route(rule))
    ex.identity = ident
    run = run_pipeline([f], ex, make_response(status, {"content-type": "application/json"}, orjson.dumps(body) if not isinstance(body, bytes) else body))
    return run.response


def test_applies_only_to_routes_with_response_rules() -> None:
    f = OwnerCheckFilter(AuthzConfig(), FilterContext(clock=FakeClock()))
    assert f.needs_response_body
    assert f.applies_to(route(OWNER)) and f.applies_to(route({"served_ids": {"namespace": "c", "learn": "/items/*/id"}}))
    assert not f.applies_to(route({"scopes": ["x"]})) and not f.applies_to(route(None))
    assert not f.applies_to(route({"served_ids": {"namespace": "c", "require": "path.id"}}))
    assert not Pipeline([f]).needs_response_body or f.applies_to(route(OWNER))


def test_owner_check_single_and_list() -> None:
    assert respond(OWNER, SUPPORT, {"id": 1, "tenant_id": "t1"}) is CONTINUE
    v = respond(OWNER, SUPPORT, {"id": 2, "tenant_id": "t2"})
    assert isinstance(v, Deny) and v.error is ObjectNotFound and v.rule == "authz:owner:/tenant_id"
    lst = {"owner": [{"field": "/items/*/tenant_id", "in": "consumer.tenants"}]}
    assert respond(lst, SUPPORT, {"items": [{"tenant_id": "t1"}, {"tenant_id": "t1"}]}) is CONTINUE
    assert isinstance(respond(lst, SUPPORT, {"items": [{"tenant_id": "t1"}, {"tenant_id": "t3"}]}), Deny)
    assert respond(lst, SUPPORT, {"items": []}) is CONTINUE  # an empty list owns nothing
    assert isinstance(respond(OWNER, SUPPORT, {"id": 1}), Deny)  # the owner field is missing: fail closed
    assert isinstance(respond(OWNER, PARTNER, {"tenant_id": "t1"}), Deny)
    assert isinstance(respond({**OWNER, "deny_objects_as": "forbidden"}, PARTNER, {"tenant_id": "t1"}), Deny)
    v = respond({**OWNER, "deny_objects_as": "forbidden"}, PARTNER, {"tenant_id": "t1"})
    assert v.error is ObjectForbidden


def test_unreadable_body_and_non_2xx() -> None:
    assert isinstance(respond(OWNER, SUPPORT, b"not json"), Deny)
    v = respond(OWNER, SUPPORT, {"error": "not found"}, status=404)
    assert isinstance(v, Deny) and v.error is ObjectNotFound and v.rule == "authz:owner:upstream-404"
    assert respond({**OWNER, "deny_objects_as": "forbidden"}, SUPPORT, {"e": 1}, status=404) is CONTINUE
    assert respond(OWNER, SUPPORT, {"e": 1}, status=500) is CONTINUE
    assert respond(OWNER, SUPPORT, b"", method="HEAD") is CONTINUE


def test_learned_ids_let_the_same_consumer_fetch() -> None:
    import asyncio

    ctx = FilterContext(clock=FakeClock())
    authz = AuthzFilter(AuthzConfig(), ctx)  # alive with the owner check, as in a gateway: they share ids
    learn = {"served_ids": {"namespace": "c", "learn": "/items/*/id"}}
    assert respond(learn, SUPPORT, {"items": [{"id": 7}, {"id": "x9"}]}, ctx=ctx) is CONTINUE
    req_rule = route({"served_ids": {"namespace": "c", "require": "path.id"}})
    for ident, obj, ok in ((SUPPORT, "7", True), (SUPPORT, "x9", True), (SUPPORT, "8", False), (PARTNER, "7", False)):
        ex = make_exchange(make_request("GET", f"/r/{obj}"), route=req_rule)
        ex.params, ex.identity = {"id": obj}, ident
        v = asyncio.run(authz.on_request(ex))
        assert (v is CONTINUE) is ok, (ident.consumer, obj)


def test_response_now_decides_without_awaiting_except_when_learning() -> None:
    """The owner check runs synchronously (no coroutine); learning served ids awaits the
    store, so there response_now answers None having read nothing."""
    f = OwnerCheckFilter(AuthzConfig(), FilterContext(clock=FakeClock()))
    assert type(f).implements("response_now")
    for body, ok in (({"tenant_id": "t1"}, True), ({"tenant_id": "t2"}, False), ({"id": 1}, False)):
        ex = make_exchange(make_request("GET", "/r/1"), route=route(OWNER))
        ex.identity = SUPPORT
        ex.response = make_response(200, {"content-type": "application/json"}, orjson.dumps(body))
        v = f.response_now(ex)
        assert (v is CONTINUE) is ok and (ok or isinstance(v, Deny))
    rule = {"owner": OWNER["owner"], "served_ids": {"namespace": "c", "learn": "/items/*/id"}}
    ex = make_exchange(make_request("GET", "/r/1"), route=route(rule))
    ex.identity = SUPPORT
    ex.response = make_response(200, {"content-type": "application/json"}, b'{"tenant_id": "t1"}')
    assert f.response_now(ex) is None and ex.response_json is None  # nothing parsed, nothing decided
    assert not ex.decisions
    # the awaited path still checks ownership before it learns
    assert respond(rule, SUPPORT, {"tenant_id": "t2"}).rule == "authz:owner:/tenant_id"


def test_learning_null_body_still_records_nothing_owned() -> None:
    """A 2xx body of JSON null passes (no owner checks) and learns no ids: no error."""
    learn = {"served_ids": {"namespace": "c", "learn": "/items/*/id"}}
    assert respond(learn, SUPPORT, None) is CONTINUE
