"""Data minimization's per-request work, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

Why: :class:`~cpragate.filters.minimize.filter.MinimizeFilter` inherits the interpreted
``Filter`` base, so both its phases ran interpreted on every request of a route with
``minimize`` rules, mostly to find that the caller has no rule for this side. Here the
route's plan (the rules by consumer and purpose, parsed field trees) is native and
:class:`MinimizeFast` (bound as the filter's ``request_now``/``response_now``) answers
"nothing to do" itself; a caller with a rule for the side goes to the filter's own
Python (``MinimizeFilter._request``/``_response``) with the plan and policy found here,
having changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.minimize.config import FieldPolicy, FieldRule, MinimizeConfig, MinimizeRouteSettings
from cpragate.filters.minimize.paths import FieldTree

__all__ = [
    "MinimizeFast",
    "MinimizePlan",
    "Policy",
    "Side",
    "caller_of",
    "json_or_unlabelled",
    "route_settings",
]

_CONTINUE: Final = CONTINUE
"""A module constant (a C static, compiled): the imported name is a dict lookup per use."""

_PLANS_MAX: Final = 10_000


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


_MEDIA_CACHE: Final = 64
_json_media: dict[bytes, bool] = {}
"""Content-Type header value -> JSON or unlabelled; bounded (cleared when full)."""


def json_or_unlabelled(content_type: bytes | None) -> bool:
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


class Side:
    def __init__(self, rule: FieldRule) -> None:
        self.allow = FieldTree(rule.allow) if rule.allow is not None else None
        self.deny = FieldTree(rule.deny) if rule.deny else None

    def apply(self, doc: object, removed: dict[str, int], apply: bool) -> None:
        if self.allow is not None:
            self.allow.keep_only(doc, removed, apply)
        if self.deny is not None:
            self.deny.remove(doc, removed, apply)


class Policy:
    def __init__(self, label: str, p: FieldPolicy) -> None:
        self.label = label
        self.request = Side(p.request) if p.request is not None else None
        self.response = Side(p.response) if p.response is not None else None


class MinimizePlan:
    def __init__(self, cfg: MinimizeConfig, rs: MinimizeRouteSettings) -> None:
        self.settings = rs
        self.source: object = None
        """The route settings object the plan was made from (a new config makes a new plan)."""
        self.enforce = (rs.mode or cfg.mode) == "enforce"
        self.fail_open = cfg.on_error == "allow"
        self.by_consumer: dict[str, Policy] = {}
        self.by_purpose: dict[str, Policy] = {}
        for rule in rs.rules:
            for c in rule.consumers:
                self.by_consumer.setdefault(c, Policy(f"consumer:{c}", rule))
            for p in rule.purposes:
                self.by_purpose.setdefault(p, Policy(f"purpose:{p}", rule))
        self.default = Policy("default", rs.default) if rs.default is not None else None
        policies = [*self.by_consumer.values(), *self.by_purpose.values(), self.default]
        self.has_request = any(p is not None and p.request is not None for p in policies)
        """Whether any caller has a request rule (else the request phase has nothing to do)."""
        self.has_response = any(p is not None and p.response is not None for p in policies)
        self.mode: Literal["enforce", "monitor"] = "enforce" if self.enforce else "monitor"

    def policy_for(self, identity: object | None) -> Policy | None:
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


class MinimizeFast:
    """The plans per route and the "nothing to do" answers of both phases (module docstring)."""

    def __init__(
        self,
        cfg: MinimizeConfig,
        request: Callable[[Exchange, MinimizePlan, Policy, Side], Verdict],
        response: Callable[[Exchange, MinimizePlan, Policy, Side], Verdict],
    ) -> None:
        self.cfg = cfg
        self.request = request
        """The filter's request phase for a caller with a request rule."""
        self.response = response
        """The filter's response phase for a caller with a response rule."""
        self.plans: dict[int, MinimizePlan] = {}

    def plan(self, route: RouteInfo | None) -> MinimizePlan | None:
        if route is None:
            return None
        plan = self.plans.get(id(route))
        if plan is not None and plan.source is route.settings:
            return plan  # the hot path: no pydantic attribute access per request
        rs = route_settings(route)
        if rs is None:
            return None
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        plan = self.plans[id(route)] = MinimizePlan(self.cfg, rs)
        plan.source = route.settings
        return plan

    def request_now(self, exchange: Exchange) -> Verdict:
        """The request phase: never awaits."""
        plan = self.plan(exchange.route)
        if plan is None or not plan.has_request or not exchange.request.body:
            return _CONTINUE
        policy = plan.policy_for(exchange.identity)
        if policy is None:
            return _CONTINUE
        side = policy.request
        if side is None:
            return _CONTINUE
        return self.request(exchange, plan, policy, side)

    def response_now(self, exchange: Exchange) -> Verdict:
        """The response phase: never awaits."""
        resp = exchange.response
        if resp is None or exchange.error_code is not None or not resp.body:
            return _CONTINUE
        plan = self.plan(exchange.route)
        if plan is None or not plan.has_response:
            return _CONTINUE
        policy = plan.policy_for(exchange.identity)
        if policy is None:
            return _CONTINUE
        side = policy.response
        if side is None:
            return _CONTINUE
        return self.response(exchange, plan, policy, side)
