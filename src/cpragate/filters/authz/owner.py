"""The response-side owner check and served-id learning (``owner_check``, priority 100).

It runs first in the response phase, on the raw upstream body, and only on routes whose
``authz`` rule has ``owner`` checks or ``served_ids.learn`` (elsewhere ``applies_to`` is
false, so those routes do not buffer response bodies). Only 2xx JSON responses are
inspected; a body that cannot be parsed, or lacks the checked field, is refused (fail
closed); an empty list passes (there is nothing in it to own). When
object denials answer 404, the upstream's own 404s on these routes are replaced by the
same problem response, so a caller cannot tell "exists but not yours" from "absent".
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import ObjectNotFound, StorageError
from cpragate.filters.authz.config import AuthzConfig
from cpragate.filters.authz.filter import object_denial, rule_of, served_key, served_store
from cpragate.filters.authz.rules import pointer_values, satisfies

__all__ = ["OwnerCheckFilter"]

log = logging.getLogger("cpragate.authz")


def _str(v: object) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str | int):
        return str(v)
    return None


_UNREAD: Any = object()
"""``_check``'s document when the body was not read (any JSON value, ``null`` too, may be one)."""


class OwnerCheckFilter(Filter):
    name = "owner_check"
    priority = 100
    Config: ClassVar[type[FilterConfig]] = AuthzConfig
    needs_response_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, AuthzConfig)
        self.cfg = config
        self.served, self.local_served = served_store(ctx)

    def applies_to(self, route: RouteInfo) -> bool:
        r = rule_of(route)
        return r is not None and (bool(r.owner) or (r.served_ids is not None and r.served_ids.learn is not None))

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """The owner check, synchronously; None (having changed nothing) on a route that
        learns served ids from the response, whose store is awaited (``on_response``)."""
        rule = rule_of(exchange.route)
        if rule is not None and rule.served_ids is not None and rule.served_ids.learn is not None:
            return None
        verdict, _ = self._check(exchange)
        return verdict

    async def on_response(self, exchange: Exchange) -> Verdict:
        verdict, doc = self._check(exchange)
        if verdict is not CONTINUE or doc is _UNREAD:
            return verdict
        rule = rule_of(exchange.route)
        ident = exchange.identity
        assert rule is not None and ident is not None
        sr = rule.served_ids
        if sr is not None and sr.learn is not None:
            ids = [s for s in (_str(v) for v in pointer_values(doc, sr.learn)) if s is not None]
            key = served_key(ident.consumer, sr.namespace)
            try:
                await self.served.add(key, ids, sr.max_ids, sr.ttl)
            except StorageError as e:
                log.warning("served-id store unavailable; ids kept in this process only: %s", e.detail or e.title)
                await self.local_served.add(key, ids, sr.max_ids, sr.ttl)
        return CONTINUE

    def _check(self, exchange: Exchange) -> tuple[Verdict, Any]:
        """(the verdict of the owner checks, the parsed body when they passed on it, else _UNREAD)."""
        rule = rule_of(exchange.route)
        resp = exchange.response
        ident = exchange.identity
        if rule is None or resp is None or exchange.error_code is not None:
            return CONTINUE, _UNREAD  # a gateway-made answer: nothing of the upstream's to check
        if resp.status == 404 and (rule.deny_objects_as or self.cfg.deny_objects_as) == "not_found":
            return Deny(ObjectNotFound, rule="authz:owner:upstream-404"), _UNREAD
        if not 200 <= resp.status < 300 or ident is None or exchange.request.method == "HEAD":
            return CONTINUE, _UNREAD
        try:
            doc = response_json(exchange)  # parsed once, shared with conformance/minimize/pii
        except ValueError:
            return object_denial(self.cfg, rule, "authz:owner:unreadable"), _UNREAD
        for o in rule.owner:
            vals = list(pointer_values(doc, o.field))
            if not vals and "*" not in o.field:  # an empty list owns nothing; a missing field is refused
                return object_denial(self.cfg, rule, f"authz:owner:{o.field}:absent"), _UNREAD
            eq = o.equals is not None
            for v in vals:
                s = _str(v)
                if s is None or not satisfies(s, ident, o.ref, eq):
                    return object_denial(self.cfg, rule, f"authz:owner:{o.field}"), _UNREAD
        return CONTINUE, doc
