"""Per-purpose data minimization: each caller receives only the fields its purpose needs.

Theory of operation:

1. The filter is in the chain only of routes with ``minimize`` rules (``applies_to``).
   The caller is ``exchange.identity`` (set by authn): its consumer name and CPRA
   purpose are read defensively, so an anonymous exchange (no authn on the route) gets
   the route's ``default`` policy. The rule that applies is chosen once per exchange:
   one naming the consumer, else one naming the purpose, else ``default``, else none.
2. Request phase (priority 400, after validation): a ``request`` field rule removes
   fields from the JSON body before it is forwarded upstream.
3. Response phase (after conformance removed what the spec does not declare, before
   pii masks what remains): a ``response`` field rule keeps only the allowed fields
   and/or removes the denied ones. The body is parsed once (``core.jsonbody``) and
   re-serialized only when something was removed.
4. ``monitor`` mode changes nothing and records exactly what would have been removed.
   ``exchange.minimize`` holds the rule and the removed fields by path (never values);
   ``exchange.decisions`` a one-line summary.
5. A body a rule applies to that is not JSON follows ``on_error``: ``deny`` (default)
   withholds it (502 CPG-VAL-007; a request is refused 400 CPG-VAL-001), ``allow``
   forwards it and logs a warning each time.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import (
    request_json as request_json_ro,
)
from cpragate.core.jsonbody import (
    response_json as response_json_ro,
)
from cpragate.core.jsonbody import (
    set_request_json,
    set_response_json,
    writable_request_json,
    writable_response_json,
)
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import RequestInvalid, ResponseNotMinimizable
from cpragate.filters.minimize import fastpath as fp
from cpragate.filters.minimize.config import MinimizeConfig
from cpragate.filters.minimize.report import MinimizeReport

__all__ = ["MinimizeFilter", "caller_of", "route_settings"]

log = logging.getLogger("cpragate.filter.minimize")


# Moved to the compiled fast path (fastpath.py); the names stay importable from here.
route_settings = fp.route_settings
caller_of = fp.caller_of
_json_or_unlabelled = fp.json_or_unlabelled
_json_media = fp._json_media


class MinimizeFilter(Filter):
    name = "minimize"
    priority = 400
    Config: ClassVar[type[FilterConfig]] = MinimizeConfig
    # Only routes with rules have this filter in their chain (applies_to), so only their
    # bodies are buffered (up to the route's max_body_bytes).
    needs_request_body = True
    needs_response_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, MinimizeConfig)
        self.cfg = config
        self._fast = fp.MinimizeFast(config, self._request, self._response)
        self._plans = self._fast.plans
        # The pipeline calls the compiled methods directly (fastpath.py): no Python frame.
        self.request_now = self._fast.request_now  # type: ignore[method-assign]
        self.response_now = self._fast.response_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        return rs is not None and (bool(rs.rules) or rs.default is not None)

    def _plan(self, route: RouteInfo | None) -> fp.MinimizePlan | None:
        return self._fast.plan(route)

    def _report(self, exchange: Exchange, plan: fp.MinimizePlan, policy: fp.Policy) -> MinimizeReport:
        rep = exchange.minimize
        if rep is None:
            rep = exchange.minimize = MinimizeReport(policy.label, plan.mode)
        return rep

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self._fast.request_now(exchange)

    def request_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs synchronously (bound to fastpath.py in __init__)."""
        return self._fast.request_now(exchange)

    def _request(self, exchange: Exchange, plan: fp.MinimizePlan, policy: fp.Policy, side: fp.Side) -> Verdict:
        """The request phase of a caller with a request rule (fastpath.py answers the rest)."""
        rep = self._report(exchange, plan, policy)
        try:
            doc = writable_request_json(exchange) if plan.enforce else request_json_ro(exchange)
        except ValueError:
            rep.skipped = "request_not_json"
            if plan.fail_open:
                log.warning("minimize: request body is not JSON; forwarded (on_error: allow, request %s)",
                            exchange.request_id)
                return CONTINUE
            return Deny(RequestInvalid, rule="minimize:request_not_json", violations=(("/body", "json"),))
        side.apply(doc, rep.request_removed, plan.enforce)
        if rep.request_removed:
            n = sum(rep.request_removed.values())
            if plan.enforce:
                set_request_json(exchange, doc)
                exchange.decide(self.name, "remove", f"minimize:{policy.label}:request:{n}")
            else:
                exchange.decide(self.name, "would_remove", f"minimize:{policy.label}:request:{n}")
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)

    def response_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs synchronously (bound to fastpath.py in __init__)."""
        return self._fast.response_now(exchange)

    def _response(self, exchange: Exchange, plan: fp.MinimizePlan, policy: fp.Policy, side: fp.Side) -> Verdict:
        """The response phase of a caller with a response rule (fastpath.py answers the rest)."""
        resp = exchange.response
        assert resp is not None
        rep = self._report(exchange, plan, policy)
        try:
            if not _json_or_unlabelled(resp.headers.get(b"content-type")):
                raise ValueError("not a JSON media type")
            doc = writable_response_json(exchange) if plan.enforce else response_json_ro(exchange)
        except ValueError:
            rep.skipped = "response_not_json"
            if plan.fail_open:
                log.warning("minimize: response is not JSON; forwarded (on_error: allow, request %s)",
                            exchange.request_id)
                return CONTINUE
            return Deny(ResponseNotMinimizable, rule="minimize:response_not_json")
        side.apply(doc, rep.response_removed, plan.enforce)
        if rep.response_removed:
            n = sum(rep.response_removed.values())
            if plan.enforce:
                set_response_json(exchange, doc)
                exchange.decide(self.name, "remove", f"minimize:{policy.label}:response:{n}")
            else:
                exchange.decide(self.name, "would_remove", f"minimize:{policy.label}:response:{n}")
        return CONTINUE
