"""Adds security headers to every response and removes server banners.

Runs last in the response phase (highest priority, and the response phase is the request
order reversed), so nothing after it can take a header away again.
"""

from __future__ import annotations

from typing import ClassVar, cast

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.verdict import Verdict
from cpragate.filters.security_headers.config import SecurityHeadersConfig
from cpragate.filters.security_headers.fastpath import SecurityHeadersFast

__all__ = ["SecurityHeadersFilter"]


class SecurityHeadersFilter(Filter):
    name = "security_headers"
    priority = 2000
    Config: ClassVar[type[FilterConfig]] = SecurityHeadersConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        c = cast(SecurityHeadersConfig, config)
        hsts = b""
        if c.hsts_max_age > 0:
            hsts = b"max-age=%d" % c.hsts_max_age
            if c.hsts_include_subdomains:
                hsts += b"; includeSubDomains"
            if c.hsts_preload:
                hsts += b"; preload"
        forced: list[tuple[bytes, bytes]] = []
        if c.content_type_options:
            forced.append((b"x-content-type-options", b"nosniff"))
        if c.frame_options:
            forced.append((b"x-frame-options", c.frame_options.encode("latin-1")))
        if c.referrer_policy:
            forced.append((b"referrer-policy", c.referrer_policy.encode("latin-1")))
        self._fast = SecurityHeadersFast(
            hsts,
            forced,
            c.content_security_policy.encode("latin-1") if c.content_security_policy else None,
            c.personal_cache_control.encode("latin-1"),
            frozenset(h.lower().encode("latin-1") for h in c.remove_headers),
        )
        # The pipeline calls the native method directly (fastpath.py): no Python frame.
        self.response_now = self._fast.response_now  # type: ignore[method-assign]

    def response_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs synchronously (bound to fastpath.py in __init__)."""
        return self._fast.response_now(exchange)

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)
