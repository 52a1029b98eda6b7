"""Answers CORS preflights and adds CORS headers, per route, from ``routes[].cors``.

Runs first in the request phase (a preflight carries no credentials, so it must be
answered before authentication) and near the end of the response phase. Access-Control
headers from the upstream are always removed: the gateway's policy is the only one.
"""

from __future__ import annotations

from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.messages import Headers, Response
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Respond, Verdict
from cpragate.errors import CorsRefused
from cpragate.filters.cors.config import CorsConfig, CorsPolicy
from cpragate.filters.cors.fastpath import CorsFast

__all__ = ["CorsFilter", "policy_of"]



def policy_of(route: RouteInfo | None) -> CorsPolicy | None:
    settings = route.settings if route is not None else None
    pol = getattr(settings, "cors", None)
    return pol if isinstance(pol, CorsPolicy) else None


class _Compiled:
    __slots__ = ("any_origin", "credentials", "expose", "headers", "max_age", "methods", "origins", "policy")

    def __init__(self, p: CorsPolicy) -> None:
        self.policy = p
        self.any_origin = "*" in p.allow_origins
        self.origins = frozenset(o.encode("ascii") for o in p.allow_origins if o != "*")
        self.methods = frozenset(m.upper().encode("ascii") for m in p.allow_methods)
        self.headers = frozenset(h.lower().encode("ascii") for h in p.allow_headers)
        self.credentials = p.allow_credentials
        self.expose = ", ".join(p.expose_headers).encode("ascii")
        self.max_age = str(p.max_age).encode("ascii")

    def allows(self, origin: bytes) -> bool:
        return self.any_origin or origin.lower() in self.origins


class CorsFilter(Filter):
    name = "cors"
    priority = 1900
    Config: ClassVar[type[FilterConfig]] = CorsConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        self._compiled: dict[int, _Compiled] = {}
        self._fast = CorsFast(self._preflight, self._with_origin)
        # The pipeline calls the native methods directly (fastpath.py): no Python frame.
        self.request_now = self._fast.request_now  # type: ignore[method-assign]
        self.response_now = self._fast.response_now  # type: ignore[method-assign]

    def _policy(self, ex: Exchange) -> _Compiled | None:
        p = policy_of(ex.route)
        if p is None:
            return None
        c = self._compiled.get(id(p))
        if c is None or c.policy is not p:
            c = self._compiled[id(p)] = _Compiled(p)
        return c

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self.request_now(exchange)

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self.response_now(exchange)

    # Both phases never await. The common case ends in fastpath.py (bound in __init__);
    # these two methods are the same calls, for callers that use the class.
    def request_now(self, exchange: Exchange) -> Verdict:
        return self._fast.request_now(exchange)

    def response_now(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)

    def _preflight(self, exchange: Exchange) -> Verdict:
        """An OPTIONS request: answered here when it is a preflight."""
        req = exchange.request
        origin = req.headers.get(b"origin")
        acrm = req.headers.get(b"access-control-request-method")
        if origin is None or acrm is None:
            return CONTINUE  # not a preflight
        pol = self._policy(exchange)
        if pol is None or not pol.allows(origin) or acrm.upper() not in pol.methods:
            return Deny(CorsRefused, rule="cors:preflight")
        asked = req.headers.get(b"access-control-request-headers", b"") or b""
        for h in asked.split(b","):
            h = h.strip().lower()
            if h and h not in pol.headers:
                return Deny(CorsRefused, rule="cors:preflight-header")
        hdrs = Headers._from_lowered(
            [
                (b"access-control-allow-origin", b"*" if pol.any_origin and not pol.credentials else origin),
                (b"access-control-allow-methods", b", ".join(sorted(pol.methods))),
                (b"access-control-allow-headers", b", ".join(sorted(pol.headers))),
                (b"access-control-max-age", pol.max_age),
                (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            ]
        )
        if pol.credentials:
            hdrs.add(b"access-control-allow-credentials", b"true")
        return Respond(Response(204, hdrs, b""))

    def _with_origin(self, exchange: Exchange, origin: bytes) -> Verdict:
        """A response to a request with an Origin (its upstream Access-Control headers gone)."""
        resp = exchange.response
        assert resp is not None
        h = resp.headers
        pol = self._policy(exchange)
        if pol is None or not pol.allows(origin):
            return CONTINUE
        if pol.any_origin and not pol.credentials:
            h.add(b"access-control-allow-origin", b"*")
        else:
            h.add(b"access-control-allow-origin", origin)
            h.add(b"vary", b"Origin")
        if pol.credentials:
            h.add(b"access-control-allow-credentials", b"true")
        if pol.expose:
            h.add(b"access-control-expose-headers", pol.expose)
        return CONTINUE
