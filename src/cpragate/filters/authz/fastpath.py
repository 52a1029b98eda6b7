"""Authorization's synchronous fast path, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

The route's rule is read once per route into a native :class:`RulePlan` (sets and
tuples instead of pydantic attribute reads per request). :meth:`AuthzFast.request_now`
(bound as ``AuthzFilter.request_now``) admits a request whose identity passes every part
of a rule without object rules; anything else — a refusal, object rules, an unruled
route — is decided by the filter's own ``_static`` (filter.py), so every Deny and its
rule are built in one place. A served-id requirement awaits (None).

The response-side owner check (``owner_check``, owner.py) likewise: :class:`OwnerFast`
reads each route's owner checks once into an :class:`OwnerPlan` and runs them on the
shared parsed body (bound as ``OwnerCheckFilter.response_now``); a route that learns
served ids awaits their store, so there it answers None having read nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from cpragate.core.exchange import Exchange
from cpragate.core.jsonbody import response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import ObjectNotFound
from cpragate.filters.authz.config import AuthzRule
from cpragate.filters.authz.rules import pointer_values, satisfies

__all__ = ["UNREAD", "AuthzFast", "OwnerFast", "OwnerPlan", "RulePlan", "owner_value"]

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


UNREAD: Final[Any] = object()
""":meth:`OwnerFast.check`'s document when the body was not read (any JSON value, ``null``
too, may be one)."""


def owner_value(v: object) -> str | None:
    """An owner field's value as compared: a string or an integer (booleans never match)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return None


class OwnerPlan:
    """What the owner check needs of one route's rule."""

    def __init__(self, rule: AuthzRule | None, deny_objects_as: str) -> None:
        self.rule = rule
        self.learns = rule is not None and rule.served_ids is not None and rule.served_ids.learn is not None
        """The response's ids are learned (the served-id store is awaited)."""
        self.upstream_404 = rule is not None and (rule.deny_objects_as or deny_objects_as) == "not_found"
        """The upstream's own 404s are answered like an object denial."""
        checks: list[tuple[str, str, bool, bool]] = []
        if rule is not None:
            for o in rule.owner:
                checks.append((o.field, o.ref, o.equals is not None, "*" in o.field))
        self.checks: tuple[tuple[str, str, bool, bool], ...] = tuple(checks)
        """(pointer, reference, equals, pointer has a wildcard) per owner check."""


class OwnerFast:
    """The owner plans per route and the check itself (see the module docstring)."""

    def __init__(self, deny_objects_as: str, deny: Callable[[AuthzRule, str], Verdict]) -> None:
        self.deny_objects_as = deny_objects_as
        self.deny = deny
        """Builds an object denial for a rule (authz filter.object_denial)."""
        self.plans: dict[int, tuple[RouteInfo | None, object, OwnerPlan]] = {}

    def plan(self, route: RouteInfo | None) -> OwnerPlan:
        settings = route.settings if route is not None else None
        hit = self.plans.get(id(route))
        if hit is not None and hit[0] is route and hit[1] is settings:
            return hit[2]
        p = OwnerPlan(_rule_of(route), self.deny_objects_as)
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        self.plans[id(route)] = (route, settings, p)
        return p

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """The owner check; None (having read nothing) where served ids are learned."""
        p = self.plan(exchange.route)
        if p.learns:
            return None
        return self.check(exchange, p)[0]

    def check(self, exchange: Exchange, p: OwnerPlan) -> tuple[Verdict, Any]:
        """(the verdict of the owner checks, the parsed body when they passed on it, else UNREAD)."""
        rule = p.rule
        resp = exchange.response
        ident = exchange.identity
        if rule is None or resp is None or exchange.error_code is not None:
            return _CONTINUE, UNREAD  # a gateway-made answer: nothing of the upstream's to check
        status = resp.status
        if status == 404 and p.upstream_404:
            return Deny(ObjectNotFound, rule="authz:owner:upstream-404"), UNREAD
        if status < 200 or status >= 300 or ident is None or exchange.request.method == "HEAD":
            return _CONTINUE, UNREAD
        try:
            doc = response_json(exchange)  # parsed once, shared with conformance/minimize/pii
        except ValueError:
            return self.deny(rule, "authz:owner:unreadable"), UNREAD
        for field, ref, equals, wildcard in p.checks:
            vals = pointer_values(doc, field)
            if not vals and not wildcard:  # an empty list owns nothing; a missing field is refused
                return self.deny(rule, f"authz:owner:{field}:absent"), UNREAD
            for v in vals:
                s = owner_value(v)
                if s is None or not satisfies(s, ident, ref, equals):
                    return self.deny(rule, f"authz:owner:{field}"), UNREAD
        return _CONTINUE, doc
