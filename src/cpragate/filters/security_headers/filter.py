"""Adds security headers to every response and removes server banners.

Runs last in the response phase (highest priority, and the response phase is the request
order reversed), so nothing after it can take a header away again.
"""

from __future__ import annotations

from typing import ClassVar, cast

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.security_headers.config import SecurityHeadersConfig

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
        self._hsts = hsts
        forced: list[tuple[bytes, bytes]] = []
        if c.content_type_options:
            forced.append((b"x-content-type-options", b"nosniff"))
        if c.frame_options:
            forced.append((b"x-frame-options", c.frame_options.encode("latin-1")))
        if c.referrer_policy:
            forced.append((b"referrer-policy", c.referrer_policy.encode("latin-1")))
        self._forced = forced
        self._forced_names = frozenset(n for n, _ in forced)
        self._csp = c.content_security_policy.encode("latin-1") if c.content_security_policy else None
        self._remove = frozenset(h.lower().encode("latin-1") for h in c.remove_headers)
        self._personal_cc = c.personal_cache_control.encode("latin-1")
        # The names dropped before the forced ones are added, per (https with HSTS, personal):
        # built once, not a set union per response.
        base = self._remove | self._forced_names
        self._drop = {
            (tls, personal): base
            | (frozenset({b"strict-transport-security"}) if tls else frozenset())
            | (frozenset({b"cache-control", b"pragma"}) if personal else frozenset())
            for tls in (False, True)
            for personal in (False, True)
        }

    def response_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs here, synchronously (no coroutine per response)."""
        resp = exchange.response
        if resp is None:
            return CONTINUE
        h = resp.headers
        hsts = exchange.scheme == "https" and bool(self._hsts)
        personal = exchange.route is not None and exchange.route.personal
        h.remove_many(self._drop[hsts, personal])
        items = h.items()
        items.extend(self._forced)
        if hsts:
            items.append((b"strict-transport-security", self._hsts))
        if self._csp is not None and b"content-security-policy" not in h:
            items.append((b"content-security-policy", self._csp))
        if personal:
            items.append((b"cache-control", self._personal_cc))
            items.append((b"pragma", b"no-cache"))
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self.response_now(exchange)
