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
from typing import ClassVar, Literal

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
from cpragate.filters.minimize.config import FieldPolicy, FieldRule, MinimizeConfig, MinimizeRouteSettings
from cpragate.filters.minimize.paths import FieldTree
from cpragate.filters.minimize.report import MinimizeReport

__all__ = ["MinimizeFilter", "caller_of", "route_settings"]

log = logging.getLogger("cpragate.filter.minimize")


def route_settings(route: RouteInfo | None) -> MinimizeRouteSettings | None:
    settings = route.settings if route is not None else None
    s = getattr(settings, "minimize", None)
    return s if isinstance(s, MinimizeRouteSettings) else None


def caller_of(identity: object | None) -> tuple[str | None, str | None]:
    """(consumer name, purpose) of ``exchange.identity``, read defensively.

    Accepts ``identity.consumer`` as a name or as an object with ``name`` (and
    ``purpose``), and ``identity.purpose``; anything else counts as unknown.
    """
    if identity is None:
        return None, None
    consumer = getattr(identity, "consumer", None)
    purpose = getattr(identity, "purpose", None)
    name: object = consumer
    if consumer is not None and not isinstance(consumer, str):
        name = getattr(consumer, "name", None)
        if purpose is None:
            purpose = getattr(consumer, "purpose", None)
    if name is None:
        name = getattr(identity, "name", None)
    return (name if isinstance(name, str) else None, purpose if isinstance(purpose, str) else None)


_MEDIA_CACHE = 64
_json_media: dict[bytes, bool] = {}
"""Content-Type header value -> JSON or unlabelled; bounded (cleared when full)."""


def _json_or_unlabelled(content_type: bytes | None) -> bool:
    """Whether a response with this Content-Type is read as JSON (none or empty: yes)."""
    if not content_type:
        return True
    found = _json_media.get(content_type)
    if found is None:
        bare = content_type.split(b";", 1)[0].strip().lower()
        found = not bare or bare == b"application/json" or bare.endswith(b"+json")
        if len(_json_media) >= _MEDIA_CACHE:
            _json_media.clear()
        _json_media[content_type] = found
    return found


class _Side:
    __slots__ = ("allow", "deny")

    def __init__(self, rule: FieldRule) -> None:
        self.allow = FieldTree(rule.allow) if rule.allow is not None else None
        self.deny = FieldTree(rule.deny) if rule.deny else None

    def apply(self, doc: object, removed: dict[str, int], apply: bool) -> None:
        if self.allow is not None:
            self.allow.keep_only(doc, removed, apply)
        if self.deny is not None:
            self.deny.remove(doc, removed, apply)


class _Policy:
    __slots__ = ("label", "request", "response")

    def __init__(self, label: str, p: FieldPolicy) -> None:
        self.label = label
        self.request = _Side(p.request) if p.request is not None else None
        self.response = _Side(p.response) if p.response is not None else None


class _Plan:
    __slots__ = (
        "by_consumer",
        "by_purpose",
        "default",
        "enforce",
        "fail_open",
        "has_request",
        "has_response",
        "mode",
        "settings",
        "source",
    )

    def __init__(self, cfg: MinimizeConfig, rs: MinimizeRouteSettings) -> None:
        self.settings = rs
        self.source: object = None
        """The route settings object the plan was made from (a new config makes a new plan)."""
        self.enforce = (rs.mode or cfg.mode) == "enforce"
        self.fail_open = cfg.on_error == "allow"
        self.by_consumer: dict[str, _Policy] = {}
        self.by_purpose: dict[str, _Policy] = {}
        for rule in rs.rules:
            for c in rule.consumers:
                self.by_consumer.setdefault(c, _Policy(f"consumer:{c}", rule))
            for p in rule.purposes:
                self.by_purpose.setdefault(p, _Policy(f"purpose:{p}", rule))
        self.default = _Policy("default", rs.default) if rs.default is not None else None
        policies = [*self.by_consumer.values(), *self.by_purpose.values(), self.default]
        self.has_request = any(p is not None and p.request is not None for p in policies)
        """Whether any caller has a request rule (else the request phase has nothing to do)."""
        self.has_response = any(p is not None and p.response is not None for p in policies)
        self.mode: Literal["enforce", "monitor"] = "enforce" if self.enforce else "monitor"

    def policy_for(self, identity: object | None) -> _Policy | None:
        name, purpose = caller_of(identity)
        if name is not None:
            hit = self.by_consumer.get(name)
            if hit is not None:
                return hit
        if purpose is not None:
            hit = self.by_purpose.get(purpose)
            if hit is not None:
                return hit
        return self.default


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
        self._plans: dict[int, _Plan] = {}

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        return rs is not None and (bool(rs.rules) or rs.default is not None)

    def _plan(self, route: RouteInfo | None) -> _Plan | None:
        if route is None:
            return None
        plan = self._plans.get(id(route))
        if plan is not None and plan.source is route.settings:
            return plan  # the hot path: no pydantic attribute access per request
        rs = route_settings(route)
        if rs is None:
            return None
        plan = self._plans[id(route)] = _Plan(self.cfg, rs)
        plan.source = route.settings
        return plan

    def _report(self, exchange: Exchange, plan: _Plan, policy: _Policy) -> MinimizeReport:
        rep = exchange.minimize
        if rep is None:
            rep = exchange.minimize = MinimizeReport(policy.label, plan.mode)
        return rep

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self.request_now(exchange)

    def request_now(self, exchange: Exchange) -> Verdict:
        """The whole request phase: it never awaits, so the data plane needs no coroutine."""
        plan = self._plan(exchange.route)
        if plan is None or not plan.has_request or not exchange.request.body:
            return CONTINUE
        policy = plan.policy_for(exchange.identity)
        if policy is None:
            return CONTINUE
        side = policy.request
        if side is None:
            return CONTINUE
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
        return self.response_now(exchange)

    def response_now(self, exchange: Exchange) -> Verdict:
        """The whole response phase: it never awaits, so the data plane needs no coroutine."""
        resp = exchange.response
        if resp is None or exchange.error_code is not None or not resp.body:
            return CONTINUE
        plan = self._plan(exchange.route)
        if plan is None or not plan.has_response:
            return CONTINUE
        policy = plan.policy_for(exchange.identity)
        side = policy.response if policy is not None else None
        if policy is None or side is None:
            return CONTINUE
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
