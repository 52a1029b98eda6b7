"""The rate limiters' synchronous fast path, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

Why a module of its own: the filters extend the interpreted ``Filter`` base, so compiling
them would still look every attribute up by name. The per-request state (the plans, the
buckets, the limiter's table) lives here in native classes instead, and
:meth:`LocalFast.request_now` / :meth:`LocalFast.response_now` are the filters' own
``request_now`` / ``response_now`` (bound in ``_Base.__init__``): no interpreted frame
per request. The decisions are exactly those of ``_Base._check``; a refusal is built by
the filter (``refusal``), a plan by ``plan`` (both off the per-request path).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

from cpragate.core.access import RateLimitState
from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.errors import StorageError
from cpragate.filters.ratelimit.config import Limit
from cpragate.filters.ratelimit.local import LocalLimiter

__all__ = ["BlocksNow", "Bucket", "LocalFast", "policy_bytes"]

_CONTINUE: Final = CONTINUE
"""A module constant (a C static, compiled): the imported name is a dict lookup per use."""

BlocksNow = Callable[[str, str, float], "tuple[bool, object | None]"]
"""``BlockStore.check_now``: (known without awaiting, the active block or None)."""


def policy_bytes(name: str, lim: Limit) -> bytes:
    w = lim.per
    ws = str(int(w)) if float(w).is_integer() else f"{w:g}"
    return f'"{name}";q={lim.capacity};w={ws}'.encode("ascii")


class Bucket:
    """One check, everything about it computed once: the bucket key, the GCRA
    parameters, the ``RateLimit-Policy`` bytes and the start of the ``RateLimit`` value."""

    def __init__(self, name: str, key: str, lim: Limit) -> None:
        self.name = name
        self.key = key
        self.limit = lim
        self.interval: float = lim.interval
        self.capacity: int = lim.capacity
        self.window: float = lim.interval * lim.capacity
        self.policy = policy_bytes(name, lim)
        self.current = f'"{name}";r='.encode("ascii")


def _new_state(policy: bytes, current: bytes) -> RateLimitState:
    # core/access.py is compiled in this group: a native constructor, no interpreted
    # dataclass __init__ (which cost ~1.4k instructions per request before).
    return RateLimitState(policy, current)


class LocalFast:
    """``request_now``/``response_now`` of a rate-limit filter (see the module docstring).

    ``per_ip``: the subject is the client IP (``ratelimit_ip``), else the consumer
    (``ratelimit``; "\\x00" for anonymous requests, a name no consumer has). ``shared``:
    the buckets are in a shared store, so the request phase always awaits (None).
    """

    def __init__(
        self,
        local: LocalLimiter,
        headers: bool,
        shared: bool,
        per_ip: bool,
        plans: dict[int, tuple[RouteInfo | None, dict[str, tuple[Bucket, ...]]]],
        plan: Callable[[Exchange, str], tuple[Bucket, ...]],
        refusal: Callable[[Bucket, float], Verdict],
        blocks_now: BlocksNow | None,
        wall: Callable[[], float],
        has_blocks: bool,
        block_table: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        self.local = local
        self.headers = headers
        self.shared = shared
        self.per_ip = per_ip
        self.plans = plans
        self.plan = plan
        self.refusal = refusal
        self.blocks_now = blocks_now
        self.wall = wall
        self.has_blocks = has_blocks
        self.block_table = block_table
        """The block store's own table when ``blocks_now`` is exactly a lookup in it (the
        memory store's ``table``): while it is empty, nobody is blocked, without the call."""
        self.awaits = shared or (has_blocks and blocks_now is None)
        """Nothing can be decided without awaiting: a shared limiter, or blocks that can
        only be checked by awaiting."""
        # the Redis limiter's request path (set_shared)
        self.soon: Callable[[str, float, int], Awaitable[Any]] | None = None
        self.decode: Callable[[Any], tuple[bool, int, float, float]] | None = None
        self.awaited: Callable[[Exchange], Awaitable[Verdict]] | None = None
        self.store_failed: Callable[[Exchange, StorageError], Verdict | None] | None = None

    def set_shared(
        self,
        soon: Callable[[str, float, int], Awaitable[Any]],
        decode: Callable[[Any], tuple[bool, int, float, float]],
        awaited: Callable[[Exchange], Awaitable[Verdict]],
        store_failed: Callable[[Exchange, StorageError], Verdict | None],
    ) -> None:
        """Buckets in Redis: :meth:`shared_request` becomes the filter's ``on_request``;
        ``awaited`` is the filter's own (for a block), ``store_failed`` its policy when
        Redis fails (a Deny, or None: limit in this process)."""
        self.soon, self.decode, self.awaited, self.store_failed = soon, decode, awaited, store_failed

    async def shared_request(self, exchange: Exchange) -> Verdict:
        """``on_request`` with the buckets in Redis: the same decisions as the filter's
        ``on_request``/``_check``, awaiting the script's reply Future directly."""
        soon, decode, awaited, store_failed = self.soon, self.decode, self.awaited, self.store_failed
        assert soon is not None and decode is not None and awaited is not None and store_failed is not None
        who, kind = self.subject(exchange)
        table = self.block_table
        if self.has_blocks and kind and (table is None or len(table) != 0):
            bn = self.blocks_now
            known, block = bn(kind, who, self.wall()) if bn is not None else (False, None)
            if not known or block is not None:
                return await awaited(exchange)  # a block or throttle, or it must be awaited
        plan = self.plan_of(exchange, who)
        if not plan:
            return _CONTINUE
        tightest: Bucket | None = None
        best_remaining = 0
        best_reset = 0.0
        for b in plan:
            try:
                allowed, remaining, retry, reset = decode(await soon(b.key, b.interval, b.capacity))
            except StorageError as e:
                v = store_failed(exchange, e)
                if v is not None:
                    return v
                res = self.local.acquire_now(b.key, b.interval, b.capacity)
                allowed, remaining, retry, reset = res.allowed, res.remaining, res.retry_after, res.reset_after
            if not allowed:
                return self.refusal(b, retry)
            if tightest is None or remaining < best_remaining:
                tightest, best_remaining, best_reset = b, remaining, reset
        if tightest is not None and self.headers:
            t = max(0, math.ceil(best_reset))
            exchange.rate_limit = _new_state(tightest.policy, b"%b%d;t=%d" % (tightest.current, best_remaining, t))
        return _CONTINUE

    def plan_of(self, exchange: Exchange, who: str) -> tuple[Bucket, ...]:
        """The buckets of (route, who): two dict gets (no key tuple to build and hash), else
        the filter's ``_plan`` makes and stores them."""
        route = exchange.route
        hit = self.plans.get(id(route))
        if hit is not None and hit[0] is route:
            plan = hit[1].get(who)
            if plan is not None:
                return plan
        return self.plan(exchange, who)

    def subject(self, exchange: Exchange) -> tuple[str, str]:
        """(who, kind) the limit counts: the client IP, the consumer, or no one (kind "")."""
        if self.per_ip:
            return exchange.client_ip, "ip"
        ident = exchange.identity
        if ident is None:
            return "\x00", ""
        return ident.consumer, "consumer"

    def request_now(self, exchange: Exchange) -> Verdict | None:
        if self.awaits:
            return None
        who, kind = self.subject(exchange)
        bn = self.blocks_now
        table = self.block_table
        if bn is not None and kind and (table is None or len(table) != 0):
            known, block = bn(kind, who, self.wall())
            if not known or block is not None:
                return None  # a block or throttle (or a stale mirror): the awaited path decides
        plan = self.plan_of(exchange, who)
        if not plan:
            return _CONTINUE
        return self.check(exchange, plan)

    def check(self, ex: Exchange, checks: tuple[Bucket, ...]) -> Verdict:
        """Take one unit from every bucket in this process; refuse on the first empty one."""
        local = self.local
        tightest: Bucket | None = None
        best_remaining = 0
        best_reset = 0.0
        for b in checks:
            diff = local.take(b.key, b.interval, b.capacity)
            if diff < 0:
                return self.refusal(b, -diff)
            remaining = math.floor((b.window - diff) / b.interval + 1e-9)
            if tightest is None or remaining < best_remaining:
                tightest, best_remaining, best_reset = b, remaining, diff
        if tightest is not None and self.headers:
            t = max(0, math.ceil(best_reset))
            ex.rate_limit = _new_state(tightest.policy, b"%b%d;t=%d" % (tightest.current, best_remaining, t))
        return _CONTINUE

    def response_now(self, exchange: Exchange) -> Verdict:
        """The RateLimit headers of the tightest bucket, unless the upstream sent its own
        ``RateLimit`` (then left as they are); an upstream ``RateLimit-Policy`` alone is
        replaced. The header list is read and extended in place (``Headers.items()``, as
        the security_headers filter does): one call into Headers instead of four."""
        st = exchange.rate_limit
        resp = exchange.response
        if st is not None and resp is not None:
            h = resp.headers
            items = h.items()
            policy_seen = False
            for n, _ in items:
                if n == b"ratelimit":
                    return _CONTINUE
                if n == b"ratelimit-policy":
                    policy_seen = True
            if policy_seen:
                h.remove(b"ratelimit-policy")
                items = h.items()  # remove() makes a new list
            items.append((b"ratelimit-policy", st.policy))
            items.append((b"ratelimit", st.current))
        return _CONTINUE
