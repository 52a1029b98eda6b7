"""Rate limiting (GCRA) per client IP, per consumer and per route; Redis when shared."""

from cpragate.filters.ratelimit.config import Limit, RateLimitConfig, RouteRateLimit
from cpragate.filters.ratelimit.filter import RateLimitFilter, RateLimitIpFilter

__all__ = ["Limit", "RateLimitConfig", "RateLimitFilter", "RateLimitIpFilter", "RouteRateLimit"]
