"""Config of the rate limiters (``filters.ratelimit``) and of a route's ``ratelimit:`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cpragate.core.filter import FilterConfig

__all__ = ["Limit", "RateLimitConfig", "RouteRateLimit"]


class Limit(FilterConfig):
    """``rate`` requests per ``per`` seconds, with bursts up to ``burst`` (GCRA)."""

    rate: int = Field(..., ge=1, description="Requests allowed per window.")
    per: float = Field(1.0, gt=0, le=86_400, description="Window in seconds.")
    burst: int | None = Field(None, ge=1, description="Requests allowed at once (default: rate).")

    @property
    def interval(self) -> float:
        return self.per / self.rate

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.rate


class RouteRateLimit(FilterConfig):
    """A route's own limits (``routes[].ratelimit``); each replaces the global one of its kind."""

    per_consumer: Limit | None = Field(None, description="Per consumer on this route (a bucket per consumer and route).")
    per_ip: Limit | None = Field(None, description="Per client IP on this route.")
    route: Limit | None = Field(None, description="One bucket for the whole route, all callers together.")


class RateLimitConfig(FilterConfig):
    """Rate limits per client IP (before authentication) and per consumer (after it)."""

    enabled: bool = Field(True, description="Turn rate limiting off.")
    per_ip: Limit | None = Field(None, description="Default limit per client IP (checked before authentication).")
    per_consumer: Limit | None = Field(None, description="Default limit per consumer, over all routes.")
    consumers: dict[str, Limit] = Field(default_factory=dict, description="Limits for named consumers (replace per_consumer).")
    headers: bool = Field(True, description="Send RateLimit-Policy and RateLimit headers (IETF httpapi draft) on responses.")
    per_worker: bool = Field(
        False, description="Accept limits kept per process with --workers > 1 (each worker admits the full rate)."
    )
    on_error: Literal["deny", "allow"] = Field(
        "deny",
        description="When the shared store (Redis) fails: deny (503), or allow and limit in this process alone (logged).",
    )
    enforce_blocks: bool = Field(
        True,
        description="Enforce the throttles and blocks the anomaly filter (or an admin) put on consumers and client IPs.",
    )
    throttle: Limit = Field(
        default_factory=lambda: Limit(rate=1, per=1.0, burst=5),
        description="The rate a throttled consumer or client IP gets (one bucket each) until the throttle expires or is lifted.",
    )
