"""The rate limiters' fast path (compiled in the ``identity`` group): the same decisions
as the awaited path, with a block store present, and nothing taken when it defers."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import ConsumerBlocked, RateLimited
from cpragate.filters.ratelimit.config import Limit, RateLimitConfig, RouteRateLimit
from cpragate.filters.ratelimit.fastpath import Bucket, policy_bytes
from cpragate.filters.ratelimit.filter import RateLimitFilter, RateLimitIpFilter
from cpragate.storage.alerts import Block, MemoryBlocks
from cpragate.testing import make_exchange, make_request, make_response

A = Identity("a", "contractor", "api_key", "cpg_a")


def route(rl: dict[str, Any] | None = None) -> RouteInfo:
    return RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(ratelimit=None if rl is None else RouteRateLimit.model_validate(rl)))


def ex(ident: Identity | None = A, ip: str = "198.51.100.1") -> Any:
    e = make_exchange(make_request(), route=route(), client_ip=ip)
    e.identity = ident
    return e


def test_bucket_and_policy_bytes() -> None:
    lim = Limit(rate=10, per=60)
    b = Bucket("consumer", "c:a", lim)
    assert (b.interval, b.capacity, b.window) == (6.0, 10, 60.0)
    assert b.policy == b'"consumer";q=10;w=60' and b.current == b'"consumer";r='
    assert policy_bytes("x", Limit(rate=1, per=0.5)) == b'"x";q=1;w=0.5'


def test_decides_with_a_block_store_and_defers_on_a_block_taking_nothing() -> None:
    clock = FakeClock()
    blocks = MemoryBlocks()
    cfg = RateLimitConfig.model_validate({"per_consumer": {"rate": 2, "per": 3600}})
    f = RateLimitFilter(cfg, FilterContext(clock=clock, stores=SimpleNamespace(blocks=blocks)))
    e = ex()
    assert f.request_now(e) is CONTINUE and e.rate_limit is not None
    assert e.rate_limit.current == b'"consumer";r=1;t=1800'
    e.response = make_response(200)
    assert f.response_now(e) is CONTINUE
    assert e.response.headers.get(b"ratelimit") == b'"consumer";r=1;t=1800'
    now = clock.time()
    asyncio.run(blocks.put(Block("consumer", "a", "block", "x", now, now + 60)))
    blocked = ex()
    assert f.request_now(blocked) is None and blocked.rate_limit is None  # the awaited path decides
    v = asyncio.run(f.on_request(blocked))
    assert isinstance(v, Deny) and v.error is ConsumerBlocked
    clock.advance(61)  # the block is over (and the bucket refilled by 61/1800 of a unit)
    assert f.request_now(ex()) is CONTINUE  # the deferral took nothing: one unit left
    v = f.request_now(ex())
    assert isinstance(v, Deny) and v.error is RateLimited and v.rule == "ratelimit:consumer"


def test_ip_limiter_checks_ip_blocks_and_anonymous_consumers_are_not_block_checked() -> None:
    clock = FakeClock()
    blocks = MemoryBlocks()
    now = clock.time()
    asyncio.run(blocks.put(Block("ip", "203.0.113.9", "block", "x", now, now + 60)))
    asyncio.run(blocks.put(Block("consumer", "\x00", "block", "x", now, now + 60)))
    stores = SimpleNamespace(blocks=blocks)
    ipf = RateLimitIpFilter(RateLimitConfig.model_validate({"per_ip": {"rate": 5}}), FilterContext(clock=clock, stores=stores))
    assert ipf.request_now(ex(ip="203.0.113.9")) is None
    assert ipf.request_now(ex(ip="203.0.113.10")) is CONTINUE
    f = RateLimitFilter(RateLimitConfig.model_validate({"per_consumer": {"rate": 5}}), FilterContext(clock=clock, stores=stores))
    assert f.request_now(ex(ident=None)) is CONTINUE  # no consumer: no block to check, no plan


def test_a_block_store_without_check_now_or_a_shared_limiter_always_awaits() -> None:
    class AwaitOnly:
        async def check(self, kind: str, subject: str, now: float) -> None:
            return None

    clock = FakeClock()
    cfg = RateLimitConfig.model_validate({"per_consumer": {"rate": 5}})
    f = RateLimitFilter(cfg, FilterContext(clock=clock, stores=SimpleNamespace(blocks=AwaitOnly())))
    assert f.request_now(ex()) is None
    shared = RateLimitFilter(cfg, FilterContext(clock=clock, stores=SimpleNamespace(limiter=object())))
    assert shared.request_now(ex()) is None


def test_system_clock_readings_match() -> None:
    f = RateLimitFilter(RateLimitConfig.model_validate({"per_consumer": {"rate": 1, "per": 3600}}), FilterContext())
    e = ex()
    t0 = time.monotonic()
    assert f.request_now(e) is CONTINUE and e.rate_limit is not None
    assert e.rate_limit.current in (b'"consumer";r=0;t=3600', b'"consumer";r=0;t=3601')  # float rounding of now + 3600 - now
    assert f.local._tat["c:a"] - t0 >= 3600 - 1  # the TAT on the monotonic clock
