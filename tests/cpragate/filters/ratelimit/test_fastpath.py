"""The rate limiters' fast path (compiled in the ``dataplane`` group): the same decisions
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


class FakeRedis:
    """A limiter with the Redis request path (gcra_soon + gcra_reply), canned replies."""

    def __init__(self, reply: Any = None, error: bool = False) -> None:
        self.reply, self.error, self.calls = reply, error, 0

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> Any:
        raise AssertionError("the Redis path awaits gcra_soon")

    def gcra_soon(self, key: str, interval: float, capacity: int) -> Any:
        self.calls += 1

        async def reply() -> Any:
            if self.error:
                from cpragate.errors import StorageError

                raise StorageError("down")
            return self.reply

        return reply()

    @staticmethod
    def gcra_reply(res: Any) -> tuple[bool, int, float, float]:
        allowed, remaining, retry, reset = res
        return allowed == 1, int(remaining), int(retry) / 1e6, int(reset) / 1e6


def test_redis_request_phase_is_the_compiled_one_with_the_same_decisions() -> None:
    from cpragate.errors import RateLimitUnavailable

    clock = FakeClock()
    cfg = {"per_consumer": {"rate": 10, "per": 60}}
    redis = FakeRedis((1, 7, 0, 12_000_000))
    f = RateLimitFilter(RateLimitConfig.model_validate(cfg), FilterContext(clock=clock, stores=SimpleNamespace(limiter=redis, blocks=MemoryBlocks())))
    assert f.on_request == f._fast.shared_request and f.request_now(ex()) is None
    e = ex()
    assert asyncio.run(f.on_request(e)) is CONTINUE and redis.calls == 1
    assert e.rate_limit is not None and e.rate_limit.current == b'"consumer";r=7;t=12'
    redis.reply = (0, 0, 3_000_000, 60_000_000)
    v = asyncio.run(f.on_request(ex()))
    assert isinstance(v, Deny) and v.error is RateLimited and (b"retry-after", b"3") in v.headers
    assert asyncio.run(f.on_request(ex(ident=None))) is CONTINUE  # no consumer: no plan
    redis.error = True
    v = asyncio.run(f.on_request(ex()))
    assert isinstance(v, Deny) and v.error is RateLimitUnavailable
    allow = RateLimitFilter(RateLimitConfig.model_validate({**cfg, "on_error": "allow"}), FilterContext(clock=clock, stores=SimpleNamespace(limiter=redis)))
    e = ex()
    assert asyncio.run(allow.on_request(e)) is CONTINUE and e.rate_limit is not None  # limited in this process
    blocks = MemoryBlocks()
    now = clock.time()
    asyncio.run(blocks.put(Block("consumer", "a", "block", "x", now, now + 60)))
    redis.error = False
    blocked = RateLimitFilter(RateLimitConfig.model_validate(cfg), FilterContext(clock=clock, stores=SimpleNamespace(limiter=redis, blocks=blocks)))
    v = asyncio.run(blocked.on_request(ex()))
    assert isinstance(v, Deny) and v.error is ConsumerBlocked


def test_response_headers_leave_an_upstream_ratelimit_and_replace_a_lone_policy() -> None:
    clock = FakeClock()
    f = RateLimitFilter(RateLimitConfig.model_validate({"per_consumer": {"rate": 10, "per": 60}}), FilterContext(clock=clock))
    e = ex()
    assert f.request_now(e) is CONTINUE and e.rate_limit is not None
    assert (e.rate_limit.policy, e.rate_limit.current) == (b'"consumer";q=10;w=60', b'"consumer";r=9;t=6')
    e.response = make_response(200)
    e.response.headers.add(b"ratelimit", b'"up";r=5;t=1')
    e.response.headers.add(b"ratelimit-policy", b'"up";q=9;w=1')
    assert f.response_now(e) is CONTINUE
    assert e.response.headers.get_all(b"ratelimit") == [b'"up";r=5;t=1']  # the upstream's own, untouched
    assert e.response.headers.get_all(b"ratelimit-policy") == [b'"up";q=9;w=1']
    e2 = ex()
    assert f.request_now(e2) is CONTINUE
    e2.response = make_response(200)
    e2.response.headers.add(b"ratelimit-policy", b'"up";q=9;w=1')
    e2.response.headers.add(b"ratelimit-policy", b'"up2";q=9;w=1')
    e2.response.headers.add(b"content-type", b"application/json")
    assert f.response_now(e2) is CONTINUE
    assert e2.response.headers.get_all(b"ratelimit-policy") == [b'"consumer";q=10;w=60']
    assert e2.response.headers.get_all(b"ratelimit") == [b'"consumer";r=8;t=12']
    assert e2.response.headers.get(b"content-type") == b"application/json"


def test_blocks_put_after_start_are_enforced_with_the_empty_table_shortcut() -> None:
    """The fast path skips the block store's call only while its table is empty: the
    first block put (after the filter was built) is seen by the very next request."""
    clock = FakeClock()
    blocks = MemoryBlocks()
    f = RateLimitIpFilter(RateLimitConfig.model_validate({"per_ip": {"rate": 100}}),
                          FilterContext(clock=clock, stores=SimpleNamespace(blocks=blocks)))  # fmt: skip
    assert f.request_now(ex(ip="203.0.113.7")) is CONTINUE
    now = clock.time()
    asyncio.run(blocks.put(Block("ip", "203.0.113.7", "block", "x", now, now + 60)))
    blocked = ex(ip="203.0.113.7")
    assert f.request_now(blocked) is None
    v = asyncio.run(f.on_request(blocked))
    assert isinstance(v, Deny) and v.error is ConsumerBlocked
    assert f.request_now(ex(ip="203.0.113.8")) is CONTINUE  # someone else: the table is checked, no block


def test_plans_are_per_route_and_subject_bounded_and_a_reset_keeps_the_buckets(monkeypatch: Any) -> None:
    import cpragate.filters.ratelimit.filter as rl_filter

    monkeypatch.setattr(rl_filter, "_PLANS_MAX", 3)
    clock = FakeClock()
    f = RateLimitIpFilter(RateLimitConfig.model_validate({"per_ip": {"rate": 1, "per": 3600}}), FilterContext(clock=clock))
    r1, r2 = route(), route({"per_ip": {"rate": 1, "per": 3600}})
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        for r in (r1, r2):
            e = make_exchange(make_request(), route=r, client_ip=ip)
            assert f.request_now(e) is CONTINUE
        assert sum(len(per) for _, per in f._plans.values()) <= 3
    for ip in ("192.0.2.1", "192.0.2.5"):  # plans made again after the resets: the same buckets
        for r in (r1, r2):
            v = f.request_now(make_exchange(make_request(), route=r, client_ip=ip))
            assert isinstance(v, Deny) and v.error is RateLimited
    e1 = make_exchange(make_request(), route=r1, client_ip="192.0.2.9")
    e2 = make_exchange(make_request(), route=r2, client_ip="192.0.2.9")
    assert [b.key for b in f._fast.plan_of(e1, "192.0.2.9")] == ["ip:192.0.2.9"]
    assert [b.key for b in f._fast.plan_of(e2, "192.0.2.9")] == ["ip:r:192.0.2.9"]
    assert f._fast.plan_of(e1, "192.0.2.9") is f._fast.plan_of(e1, "192.0.2.9")  # made once, then kept
