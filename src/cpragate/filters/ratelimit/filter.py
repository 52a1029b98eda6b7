"""Rate limiting with GCRA: per client IP (``ratelimit_ip``, 1300, before authentication)
and per consumer and per route (``ratelimit``, 900, after authorization).

Buckets live in the shared limiter (Redis, one atomic script per check) when the
storage has one, else in this process. A refusal is 429 with ``Retry-After``; with
``headers`` on, every response carries ``RateLimit-Policy`` and ``RateLimit`` (IETF
httpapi draft) for the tightest bucket checked. When Redis fails, ``on_error: deny``
answers 503; ``allow`` limits in this process alone and logs each time; the next
request tries Redis again, so the gateway recovers by itself when Redis is back.

Both filters also enforce the blocks in ``stores.blocks`` (storage/alerts.py), put there
by the anomaly filter or an admin: ``ratelimit_ip`` those on client IPs, ``ratelimit``
those on consumers. A ``block`` answers 403 ``CPG-RATE-005`` with ``Retry-After`` until
it expires or is lifted; a ``throttle`` puts the subject in one bucket of the
``throttle`` rate (429 ``CPG-RATE-001`` beyond it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, ClassVar

from cpragate.core.access import RateLimitState
from cpragate.core.clock import SystemClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import ConsumerBlocked, RateLimited, RateLimitUnavailable, StorageError
from cpragate.filters.ratelimit.config import Limit, RateLimitConfig, RouteRateLimit
from cpragate.filters.ratelimit.fastpath import BlocksNow, Bucket, LocalFast, policy_bytes
from cpragate.filters.ratelimit.local import LocalLimiter
from cpragate.storage.access import Limiter, LimitResult
from cpragate.storage.alerts import BlockStore, MemoryBlocks, SubjectKind

__all__ = ["RateLimitFilter", "RateLimitIpFilter", "route_limits"]

log = logging.getLogger("cpragate.ratelimit")


def route_limits(route: RouteInfo | None) -> RouteRateLimit | None:
    r = getattr(route.settings if route is not None else None, "ratelimit", None)
    return r if isinstance(r, RouteRateLimit) else None


_PLANS_MAX = 10_000


class _Base(Filter):
    Config: ClassVar[type[FilterConfig]] = RateLimitConfig
    per_ip_subject: ClassVar[bool] = False
    """The subject of the limits and blocks is the client IP (else the consumer)."""

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, RateLimitConfig)
        self.cfg = config
        self.local = LocalLimiter(ctx.clock)
        shared = getattr(ctx.stores, "limiter", None)
        self.limiter: Limiter = shared if shared is not None else self.local
        self.is_shared = shared is not None
        self.headers = config.headers
        self.deny_on_error = config.on_error == "deny"
        self._plans: dict[int, tuple[RouteInfo | None, dict[str, tuple[Bucket, ...]]]] = {}
        """id of the route -> (the route, consumer or client ip -> the buckets to check);
        bounded: everything goes once ``_PLANS_MAX`` plans were made since the last time."""
        self._plan_count = 0
        self.blocks: BlockStore | None = getattr(ctx.stores, "blocks", None) if config.enforce_blocks else None
        self._throttle = config.throttle
        self._throttle_policy = policy_bytes("throttle", config.throttle)
        clock = ctx.clock
        self._blocks_now: BlocksNow | None = getattr(self.blocks, "check_now", None)
        self._gcra_soon: Callable[[str, float, int], Awaitable[Any]] | None = getattr(shared, "gcra_soon", None)
        self._gcra_reply: Callable[[Any], tuple[bool, int, float, float]] | None = getattr(shared, "gcra_reply", None)
        """The Redis limiter's request path (storage/redis.py): the Future of the script's
        reply and its decoder; None for other limiters (``acquire``)."""
        self._fast = LocalFast(
            self.local,
            self.headers,
            self.is_shared,
            self.per_ip_subject,
            self._plans,
            self._plan,
            self._refusal,
            self._blocks_now,
            time.time if type(clock) is SystemClock else clock.time,
            self.blocks is not None,
            self.blocks.table if isinstance(self.blocks, MemoryBlocks) else None,
        )
        # The compiled fast path's bound methods shadow the class's own (which delegate to
        # them): the pipeline calls them with no interpreted frame in between.
        self.request_now = self._fast.request_now  # type: ignore[method-assign]
        self.response_now = self._fast.response_now  # type: ignore[method-assign]
        if self._gcra_soon is not None and self._gcra_reply is not None:
            # Redis: the awaited request phase is the compiled one too (fastpath.py)
            self._fast.set_shared(self._gcra_soon, self._gcra_reply, partial(type(self).on_request, self), self._store_failed)
            self.on_request = self._fast.shared_request  # type: ignore[method-assign]

    def _unblocked_now(self, kind: SubjectKind, subject: str) -> bool:
        """True when the block store knows without awaiting that ``subject`` has no block
        (so the awaited path does not await it either: one coroutine less per request)."""
        if self._blocks_now is None:
            return False
        known, block = self._blocks_now(kind, subject, self.ctx.clock.time())
        return known and block is None

    async def _blocked(self, ex: Exchange, kind: SubjectKind, subject: str) -> Verdict:
        """The verdict of a block or throttle on ``subject`` (CONTINUE when there is none)."""
        assert self.blocks is not None
        now = self.ctx.clock.time()
        try:
            b = await self.blocks.check(kind, subject, now)
        except StorageError as e:
            log.warning("block store unavailable; blocks not checked (request %s): %s", ex.request_id, e.detail or e.title)
            return CONTINUE
        if b is None:
            return CONTINUE
        retry = max(1, math.ceil(b.expires_at - now))
        if b.action == "block":
            return Deny(ConsumerBlocked, rule=f"{self.name}:blocked:{kind}", headers=((b"retry-after", b"%d" % retry),))
        lim = self._throttle
        key = f"throttle:{kind}:{subject}"
        res: LimitResult | None = None
        if self.is_shared:
            try:
                res = await self.limiter.acquire(key, lim.interval, lim.capacity)
            except StorageError:
                res = None
        if res is None:
            res = self.local.acquire_now(key, lim.interval, lim.capacity)
        if res.allowed:
            return CONTINUE
        wait = max(1, math.ceil(res.retry_after))
        hdrs: tuple[tuple[bytes, bytes], ...] = ((b"retry-after", b"%d" % wait),)
        if self.headers:
            hdrs += ((b"ratelimit-policy", self._throttle_policy), (b"ratelimit", b'"throttle";r=0;t=%d' % wait))
        return Deny(RateLimited, rule=f"{self.name}:throttled:{kind}", headers=hdrs)

    def _plan(self, ex: Exchange, who: str) -> tuple[Bucket, ...]:
        route = ex.route
        hit = self._plans.get(id(route))
        if hit is not None and hit[0] is route:
            known = hit[1].get(who)
            if known is not None:
                return known
        plan = tuple(Bucket(n, key, lim) for n, key, lim in self._checks(ex))
        if self._plan_count >= _PLANS_MAX:
            self._plans.clear()
            self._plan_count = 0
            hit = None
        if hit is None or hit[0] is not route:
            hit = (route, {})
            self._plans[id(route)] = hit
        hit[1][who] = plan
        self._plan_count += 1
        return plan

    def _checks(self, ex: Exchange) -> list[tuple[str, str, Limit]]:
        raise NotImplementedError

    async def _check(self, ex: Exchange, checks: tuple[Bucket, ...]) -> Verdict:
        """Take one unit from every bucket; refuse on the first empty one."""
        tightest: Bucket | None = None
        best_remaining, best_reset = 0, 0.0
        soon, decode = self._gcra_soon, self._gcra_reply
        for b in checks:
            if self.is_shared:
                try:
                    if soon is not None and decode is not None:  # Redis: its reply, no LimitResult
                        allowed, remaining, retry, reset = decode(await soon(b.key, b.interval, b.capacity))
                    else:
                        res = await self.limiter.acquire(b.key, b.interval, b.capacity)
                        allowed, remaining, retry, reset = res.allowed, res.remaining, res.retry_after, res.reset_after
                except StorageError as e:
                    v = self._store_failed(ex, e)
                    if v is not None:
                        return v
                    res = self.local.acquire_now(b.key, b.interval, b.capacity)
                    allowed, remaining, retry, reset = res.allowed, res.remaining, res.retry_after, res.reset_after
            else:
                res = self.local.acquire_now(b.key, b.interval, b.capacity)
                allowed, remaining, retry, reset = res.allowed, res.remaining, res.retry_after, res.reset_after
            if not allowed:
                return self._refusal(b, retry)
            if tightest is None or remaining < best_remaining:
                tightest, best_remaining, best_reset = b, remaining, reset
        if tightest is not None and self.headers:
            t = max(0, math.ceil(best_reset))
            ex.rate_limit = RateLimitState(tightest.policy, b"%b%d;t=%d" % (tightest.current, best_remaining, t))
        return CONTINUE

    def _store_failed(self, ex: Exchange, e: StorageError) -> Verdict | None:
        """Redis failed: the ``on_error`` policy (a 503, or None: limit in this process), logged."""
        if self.deny_on_error:
            log.error("rate-limit store unavailable (request %s): %s", ex.request_id, e.detail or e.title)
            return Deny(RateLimitUnavailable, rule=f"{self.name}:store-unavailable")
        log.warning("rate-limit store unavailable, limiting in this process: %s", e.detail or e.title)
        return None

    def _refusal(self, b: Bucket, retry_after: float) -> Deny:
        retry = max(1, math.ceil(retry_after))
        hdrs: tuple[tuple[bytes, bytes], ...] = ((b"retry-after", b"%d" % retry),)
        if self.headers:
            hdrs += ((b"ratelimit-policy", b.policy), (b"ratelimit", b"%b0;t=%d" % (b.current, retry)))
        return Deny(RateLimited, rule=f"{self.name}:{b.name}", headers=hdrs)

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """Decided in this process (no shared limiter, blocks known without awaiting), else None."""
        return self._fast.request_now(exchange)

    def response_now(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)


class RateLimitIpFilter(_Base):
    """Per client IP, before authentication: stops floods and credential stuffing early."""

    name = "ratelimit_ip"
    priority = 1300
    per_ip_subject = True

    def applies_to(self, route: RouteInfo) -> bool:
        rl = route_limits(route)
        return self.blocks is not None or self.cfg.per_ip is not None or (rl is not None and rl.per_ip is not None)

    def _checks(self, ex: Exchange) -> list[tuple[str, str, Limit]]:
        rl = route_limits(ex.route)
        if rl is not None and rl.per_ip is not None:
            return [("ip", f"ip:{ex.route.name if ex.route else ''}:{ex.client_ip}", rl.per_ip)]
        if self.cfg.per_ip is not None:
            return [("ip", f"ip:{ex.client_ip}", self.cfg.per_ip)]
        return []

    async def on_request(self, exchange: Exchange) -> Verdict:
        if self.blocks is not None and not self._unblocked_now("ip", exchange.client_ip):
            v = await self._blocked(exchange, "ip", exchange.client_ip)
            if v is not CONTINUE:
                return v
        plan = self._plan(exchange, exchange.client_ip)
        return await self._check(exchange, plan) if plan else CONTINUE


class RateLimitFilter(_Base):
    """Per consumer (named limits first) and per route, after authorization."""

    name = "ratelimit"
    priority = 900

    def applies_to(self, route: RouteInfo) -> bool:
        rl = route_limits(route)
        return (
            self.blocks is not None
            or self.cfg.per_consumer is not None
            or bool(self.cfg.consumers)
            or (rl is not None and (rl.per_consumer is not None or rl.route is not None))
        )

    def _checks(self, exchange: Exchange) -> list[tuple[str, str, Limit]]:
        rl = route_limits(exchange.route)
        route_name = exchange.route.name if exchange.route is not None else ""
        checks: list[tuple[str, str, Limit]] = []
        ident = exchange.identity
        if ident is not None:
            named = self.cfg.consumers.get(ident.consumer)
            if rl is not None and rl.per_consumer is not None:
                checks.append(("consumer", f"c:{route_name}:{ident.consumer}", rl.per_consumer))
            elif named is not None:
                checks.append(("consumer", f"c:{ident.consumer}", named))
            elif self.cfg.per_consumer is not None:
                checks.append(("consumer", f"c:{ident.consumer}", self.cfg.per_consumer))
        if rl is not None and rl.route is not None:
            checks.append(("route", f"r:{route_name}", rl.route))
        return checks

    async def on_request(self, exchange: Exchange) -> Verdict:
        ident = exchange.identity
        if ident is not None and self.blocks is not None and not self._unblocked_now("consumer", ident.consumer):
            v = await self._blocked(exchange, "consumer", ident.consumer)
            if v is not CONTINUE:
                return v
        # "\x00": no consumer name (which is never empty) can pose as the anonymous plan.
        plan = self._plan(exchange, ident.consumer if ident is not None else "\x00")
        return await self._check(exchange, plan) if plan else CONTINUE

