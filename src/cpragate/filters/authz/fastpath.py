"""Authorization's synchronous fast path, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

The route's rule is read once per route into a native :class:`RulePlan` (sets and
tuples instead of pydantic attribute reads per request). :meth:`AuthzFast.request_now`
(bound as ``AuthzFilter.request_now``) admits a request whose identity passes every part
of a rule without object rules; anything else — a refusal, object rules, an unruled
route — is decided by the filter's own ``_static`` (filter.py), so every Deny and its
rule are built in one place. A served-id requirement awaits (None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.authz.config import AuthzRule

__all__ = ["AuthzFast", "RulePlan"]

_CONTINUE: Final = CONTINUE
"""A module constant (a C static, compiled): the imported name is a dict lookup per use."""

_PLANS_MAX = 10_000


def _rule_of(route: RouteInfo | None) -> AuthzRule | None:
    r = getattr(route.settings if route is not None else None, "authz", None)
    return r if isinstance(r, AuthzRule) else None


class RulePlan:
    """What ``request_now`` needs of one route's rule."""

    def __init__(self, rule: AuthzRule | None) -> None:
        self.rule = rule
        self.awaits = rule is not None and rule.served_ids is not None and rule.served_ids.require is not None
        self.simple = rule is not None and not rule.objects and not self.awaits
        """An identity passing consumers, purposes, scopes and roles is admitted."""
        self.consumers: frozenset[str] | None = None
        self.purposes: frozenset[str] | None = None
        self.scopes: tuple[str, ...] = ()
        self.roles: tuple[str, ...] = ()
        if rule is not None:
            self.consumers = None if rule.consumers is None else frozenset(rule.consumers)
            self.purposes = None if rule.purposes is None else frozenset(rule.purposes)
            self.scopes = tuple(rule.scopes)
            self.roles = tuple(rule.roles)


class AuthzFast:
    """The plans per route and the fast path (see the module docstring)."""

    def __init__(self, static: Callable[[Exchange, AuthzRule | None], Verdict | None]) -> None:
        self.static = static
        self.plans: dict[int, tuple[RouteInfo | None, RulePlan]] = {}

    def plan(self, route: RouteInfo | None) -> RulePlan:
        hit = self.plans.get(id(route))
        if hit is not None and hit[0] is route:
            return hit[1]
        p = RulePlan(_rule_of(route))
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        self.plans[id(route)] = (route, p)
        return p

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """Everything but a served-id requirement decides without awaiting."""
        p = self.plan(exchange.route)
        if p.awaits:
            return None
        ident = exchange.identity
        if p.simple and ident is not None:
            ok = p.consumers is None or ident.consumer in p.consumers
            if ok and p.purposes is not None:
                ok = ident.purpose in p.purposes
            if ok:
                scopes = ident.scopes
                for s in p.scopes:
                    if s not in scopes:
                        ok = False
                        break
            if ok and p.roles:
                roles = ident.roles
                ok = False
                for r in p.roles:
                    if r in roles:
                        ok = True
                        break
            if ok:
                return _CONTINUE
        v = self.static(exchange, p.rule)
        return _CONTINUE if v is None else v
