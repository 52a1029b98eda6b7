"""Rate-limit filters with FakeClock and the in-process limiter; Redis runs in tests/contract and e2e."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import RateLimited, RateLimitUnavailable, StorageError
from cpragate.filters.ratelimit.config import RateLimitConfig, RouteRateLimit
from cpragate.filters.ratelimit.filter import RateLimitFilter, RateLimitIpFilter
from cpragate.storage.access import LimitResult
from cpragate.testing import make_exchange, make_request, make_response, run_pipeline

A = Identity("a", "contractor", "api_key", "cpg_a")
B = Identity("b", "contractor", "api_key", "cpg_b")


def route(rl: dict[str, Any] | None = None, name: str = "r") -> RouteInfo:
    return RouteInfo(name, "/r", ("GET",), "o", settings=SimpleNamespace(ratelimit=None if rl is None else RouteRateLimit.model_validate(rl)))


def call(f: Any, ident: Identity | None = None, ip: str = "198.51.100.1", r: RouteInfo | None = None) -> Any:
    ex = make_exchange(make_request(), route=r or route(), client_ip=ip)
    ex.identity = ident
    run = run_pipeline([f], ex, make_response(200))
    return run


def test_per_consumer_limit_headers_and_429() -> None:
    clock = FakeClock()
    f = RateLimitFilter(RateLimitConfig.model_validate({"per_consumer": {"rate": 2, "per": 60}}), FilterContext(clock=clock))
    r1 = call(f, A)
    assert r1.request is CONTINUE
    h = r1.exchange.response.headers
    assert h.get(b"ratelimit-policy") == b'"consumer";q=2;w=60' and h.get(b"ratelimit") == b'"consumer";r=1;t=30'
    assert call(f, A).request is CONTINUE
    r3 = call(f, A)
    assert isinstance(r3.request, Deny) and r3.request.error is RateLimited and r3.request.rule == "ratelimit:consumer"
    assert r3.exchange.response.status == 429 and r3.exchange.response.headers.get(b"retry-after") == b"30"
    assert call(f, B).request is CONTINUE  # another consumer, another bucket
    clock.advance(30)
    assert call(f, A).request is CONTINUE


def test_named_consumer_and_route_limits() -> None:
    clock = FakeClock()
    cfg = RateLimitConfig.model_validate({"per_consumer": {"rate": 100}, "consumers": {"a": {"rate": 1, "per": 10}}})
    f = RateLimitFilter(cfg, FilterContext(clock=clock))
    assert call(f, A).request is CONTINUE and isinstance(call(f, A).request, Deny)
    assert call(f, B).request is CONTINUE and call(f, B).request is CONTINUE
    whole = route({"route": {"rate": 1, "per": 10}}, name="hot")
    f2 = RateLimitFilter(RateLimitConfig(), FilterContext(clock=clock))
    assert f2.applies_to(whole) and not f2.applies_to(route())
    assert call(f2, A, r=whole).request is CONTINUE
    v = call(f2, B, r=whole).request
    assert isinstance(v, Deny) and v.rule == "ratelimit:route"


def test_per_ip_before_authentication() -> None:
    clock = FakeClock()
    f = RateLimitIpFilter(RateLimitConfig.model_validate({"per_ip": {"rate": 1, "per": 1}}), FilterContext(clock=clock))
    assert f.priority > 1200 and f.applies_to(route())
    assert call(f).request is CONTINUE
    v = call(f).request
    assert isinstance(v, Deny) and v.rule == "ratelimit_ip:ip"
    assert call(f, ip="198.51.100.2").request is CONTINUE
    g = RateLimitIpFilter(RateLimitConfig(), FilterContext(clock=clock))
    assert not g.applies_to(route()) and g.applies_to(route({"per_ip": {"rate": 5}}))


class Down:
    calls = 0

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        self.calls += 1
        raise StorageError("redis down")


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_shared_store_failure(on_error: str) -> None:
    down = Down()
    cfg = RateLimitConfig.model_validate({"per_consumer": {"rate": 1, "per": 60}, "on_error": on_error})
    f = RateLimitFilter(cfg, FilterContext(clock=FakeClock(), stores=SimpleNamespace(limiter=down)))
    assert f.is_shared
    v1, v2 = call(f, A).request, call(f, A).request
    if on_error == "deny":
        assert isinstance(v1, Deny) and v1.error is RateLimitUnavailable and v1.rule == "ratelimit:store-unavailable"
    else:  # the local limiter still limits
        assert v1 is CONTINUE and isinstance(v2, Deny) and v2.error is RateLimited
    assert down.calls == 2  # every request tries Redis again: recovery needs no restart


def test_anonymous_without_route_limit_passes() -> None:
    f = RateLimitFilter(RateLimitConfig.model_validate({"per_consumer": {"rate": 1}}), FilterContext(clock=FakeClock()))
    assert all(call(f).request is CONTINUE for _ in range(3))
    asyncio.run(f.local.acquire("x", 1, 1))
