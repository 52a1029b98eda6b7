"""Authorization in the request phase: function level (BFLA), purpose, object rules (BOLA).

Default deny: an identified caller on a route without an ``authz`` rule is refused
(``unruled_routes: deny``); a route with a rule serves only what every part of it
allows — scopes (all), roles (any), purposes, consumers, object rules, and a served-id
requirement. Anonymous requests (no identity) pass only routes without a rule or whose
rule says ``anonymous: true``: authn already refused them wherever credentials are
required. Every denial names its rule (``authz:scope``, ``authz:object:path.id`` …) for
the audit trail; the client sees only a generic 403, or 404 for object-level denials.
"""

from __future__ import annotations

import logging
import weakref
from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import (
    AuthUnavailable,
    Forbidden,
    ObjectForbidden,
    ObjectNotFound,
    StorageError,
    Unauthenticated,
)
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.authz.fastpath import AuthzFast
from cpragate.filters.authz.rules import Unresolvable, request_values, satisfies
from cpragate.filters.authz.served import LocalServedIds
from cpragate.storage.access import ServedIds

__all__ = ["AuthzFilter", "object_denial", "rule_of", "served_key", "served_store"]

log = logging.getLogger("cpragate.authz")


def rule_of(route: RouteInfo | None) -> AuthzRule | None:
    r = getattr(route.settings if route is not None else None, "authz", None)
    return r if isinstance(r, AuthzRule) else None


def object_denial(cfg: AuthzConfig, rule: AuthzRule, why: str) -> Deny:
    as_ = rule.deny_objects_as or cfg.deny_objects_as
    return Deny(ObjectNotFound if as_ == "not_found" else ObjectForbidden, rule=why)


def served_key(consumer: str, namespace: str) -> str:
    return f"{namespace}\x1f{consumer}"


# Not a cache: the request-side check and the response-side learning are two filter
# instances built from one FilterContext and must share one in-process id store. Weak
# values: the entry goes away with the filters that hold it (on reload).
_LOCAL_SERVED: weakref.WeakValueDictionary[int, LocalServedIds] = weakref.WeakValueDictionary()


def served_store(ctx: FilterContext) -> tuple[ServedIds, LocalServedIds]:
    """The shared served-id store (Redis) if any, and this process's own (also the fallback)."""
    local = _LOCAL_SERVED.get(id(ctx))
    if local is None:
        local = _LOCAL_SERVED[id(ctx)] = LocalServedIds(ctx.clock)
    shared = getattr(ctx.stores, "served", None)
    return (shared if shared is not None else local), local


class AuthzFilter(Filter):
    name = "authz"
    priority = 1000
    Config: ClassVar[type[FilterConfig]] = AuthzConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, AuthzConfig)
        self.cfg = config
        self.served, self.local_served = served_store(ctx)
        self.fast = AuthzFast(self._static)
        # The compiled fast path's bound method shadows the class's own (which delegates to
        # it): the pipeline calls it with no interpreted frame in between.
        self.request_now = self.fast.request_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        return rule_of(route) is not None or self.cfg.unruled_routes == "deny"

    def _static(self, exchange: Exchange, rule: AuthzRule | None) -> Verdict | None:
        """The rule's parts that need no store: a verdict, or None to go on to the served ids."""
        ident = exchange.identity
        if rule is None:
            if ident is None or self.cfg.unruled_routes == "allow_authenticated":
                return CONTINUE
            return Deny(Forbidden, rule="authz:no-rule")
        if ident is None:
            return CONTINUE if rule.anonymous else Deny(Unauthenticated, rule="authz:identity-required")
        if rule.consumers is not None and ident.consumer not in rule.consumers:
            return Deny(Forbidden, rule="authz:consumer")
        if rule.purposes is not None and ident.purpose not in rule.purposes:
            return Deny(Forbidden, rule="authz:purpose")
        for s in rule.scopes:
            if s not in ident.scopes:
                return Deny(Forbidden, rule="authz:scope")
        if rule.roles and not any(r in ident.roles for r in rule.roles):
            return Deny(Forbidden, rule="authz:role")
        for o in rule.objects:
            try:
                values = request_values(exchange, o.param)
            except Unresolvable:
                return object_denial(self.cfg, rule, f"authz:object:{o.param}:unreadable")
            if not values:
                if o.required:
                    return object_denial(self.cfg, rule, f"authz:object:{o.param}:absent")
                continue
            eq = o.equals is not None
            if not all(satisfies(v, ident, o.ref, eq) for v in values):
                return object_denial(self.cfg, rule, f"authz:object:{o.param}")
        return None

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """Everything but a served-id requirement decides without awaiting (fastpath.py)."""
        return self.fast.request_now(exchange)

    async def on_request(self, exchange: Exchange) -> Verdict:
        rule = rule_of(exchange.route)
        v = self._static(exchange, rule)
        if v is not None:
            return v
        assert rule is not None
        ident = exchange.identity
        assert ident is not None
        sr = rule.served_ids
        if sr is not None and sr.require is not None:
            try:
                values = request_values(exchange, sr.require)
            except Unresolvable:
                values = []
            if not values:
                return object_denial(self.cfg, rule, f"authz:served-ids:{sr.require}:absent")
            key = served_key(ident.consumer, sr.namespace)
            for val in values:
                try:
                    ok = await self.served.contains(key, val)
                except StorageError as e:
                    if self.cfg.on_error == "deny":
                        log.error("served-id store unavailable (request %s): %s", exchange.request_id, e.detail or e.title)
                        return Deny(AuthUnavailable, rule="authz:served-ids:store-unavailable")
                    log.warning("served-id store unavailable, checking this process's ids: %s", e.detail or e.title)
                    ok = await self.local_served.contains(key, val)
                if not ok:
                    return object_denial(self.cfg, rule, "authz:served-ids")
        return CONTINUE
