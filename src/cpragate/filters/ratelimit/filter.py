"""Rate limiting with GCRA: per client IP (``ratelimit_ip``, 1300, before authentication)
and per consumer and per route (``ratelimit``, 900, after authorization).

Buckets live in the shared limiter (Redis, one atomic script per check) when the
storage has one, else in this process. A refusal is 429 with ``Retry-After``; with
``headers`` on, every response carries ``RateLimit-Policy`` and ``RateLimit`` (IETF
httpapi draft) for the tightest bucket checked. When Redis fails, ``on_error: deny``
answers 503; ``allow`` limits in this process alone and logs each time; the next
request tries Redis again, so the gateway recovers by itself when Redis is back.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar

from cpragate.core.access import RateLimitState
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import RateLimited, RateLimitUnavailable, StorageError
from cpragate.filters.ratelimit.config import Limit, RateLimitConfig, RouteRateLimit
from cpragate.filters.ratelimit.local import LocalLimiter
from cpragate.storage.access import Limiter, LimitResult

__all__ = ["RateLimitFilter", "RateLimitIpFilter", "route_limits"]

log = logging.getLogger("cpragate.ratelimit")


def route_limits(route: RouteInfo | None) -> RouteRateLimit | None:
    r = getattr(route.settings if route is not None else None, "ratelimit", None)
    return r if isinstance(r, RouteRateLimit) else None


def _policy(name: str, lim: Limit) -> bytes:
    w = lim.per
    ws = str(int(w)) if float(w).is_integer() else f"{w:g}"
    return f'"{name}";q={lim.capacity};w={ws}'.encode("ascii")


class _Base(Filter):
    Config: ClassVar[type[FilterConfig]] = RateLimitConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, RateLimitConfig)
        self.cfg = config
        self.local = LocalLimiter(ctx.clock)
        shared = getattr(ctx.stores, "limiter", None)
        self.limiter: Limiter = shared if shared is not None else self.local
        self.is_shared = shared is not None

    async def _check(
        self, ex: Exchange, checks: list[tuple[str, str, Limit]]
    ) -> Verdict:
        """Take one unit from every bucket; refuse on the first empty one."""
        tightest: tuple[str, Limit, LimitResult] | None = None
        for name, key, lim in checks:
            try:
                res = await self.limiter.acquire(key, lim.interval, lim.capacity)
            except StorageError as e:
                if self.cfg.on_error == "deny":
                    log.error("rate-limit store unavailable (request %s): %s", ex.request_id, e.detail or e.title)
                    return Deny(RateLimitUnavailable, rule=f"{self.name}:store-unavailable")
                log.warning("rate-limit store unavailable, limiting in this process: %s", e.detail or e.title)
                res = self.local.acquire_now(key, lim.interval, lim.capacity)
            if not res.allowed:
                retry = str(max(1, math.ceil(res.retry_after))).encode("ascii")
                hdrs: tuple[tuple[bytes, bytes], ...] = ((b"retry-after", retry),)
                if self.cfg.headers:
                    hdrs += (
                        (b"ratelimit-policy", _policy(name, lim)),
                        (b"ratelimit", f'"{name}";r=0;t={retry.decode()}'.encode("ascii")),
                    )
                return Deny(RateLimited, rule=f"{self.name}:{name}", headers=hdrs)
            if tightest is None or res.remaining < tightest[2].remaining:
                tightest = (name, lim, res)
        if tightest is not None and self.cfg.headers:
            name, lim, res = tightest
            t = max(0, math.ceil(res.reset_after))
            ex.rate_limit = RateLimitState(_policy(name, lim), f'"{name}";r={res.remaining};t={t}'.encode("ascii"))
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        st = exchange.rate_limit
        resp = exchange.response
        if st is not None and resp is not None and b"ratelimit" not in resp.headers:
            resp.headers.set(b"ratelimit-policy", st.policy)
            resp.headers.set(b"ratelimit", st.current)
        return CONTINUE


class RateLimitIpFilter(_Base):
    """Per client IP, before authentication: stops floods and credential stuffing early."""

    name = "ratelimit_ip"
    priority = 1300

    def applies_to(self, route: RouteInfo) -> bool:
        rl = route_limits(route)
        return self.cfg.per_ip is not None or (rl is not None and rl.per_ip is not None)

    async def on_request(self, exchange: Exchange) -> Verdict:
        rl = route_limits(exchange.route)
        if rl is not None and rl.per_ip is not None:
            lim, key = rl.per_ip, f"ip:{exchange.route.name if exchange.route else ''}:{exchange.client_ip}"
        elif self.cfg.per_ip is not None:
            lim, key = self.cfg.per_ip, f"ip:{exchange.client_ip}"
        else:
            return CONTINUE
        return await self._check(exchange, [("ip", key, lim)])


class RateLimitFilter(_Base):
    """Per consumer (named limits first) and per route, after authorization."""

    name = "ratelimit"
    priority = 900

    def applies_to(self, route: RouteInfo) -> bool:
        rl = route_limits(route)
        return (
            self.cfg.per_consumer is not None
            or bool(self.cfg.consumers)
            or (rl is not None and (rl.per_consumer is not None or rl.route is not None))
        )

    async def on_request(self, exchange: Exchange) -> Verdict:
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
        if not checks:
            return CONTINUE
        return await self._check(exchange, checks)
