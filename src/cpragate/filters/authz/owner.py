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
from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.errors import StorageError
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.authz.fastpath import UNREAD, OwnerFast, owner_value
from cpragate.filters.authz.filter import object_denial, rule_of, served_key, served_store
from cpragate.filters.authz.rules import pointer_values

__all__ = ["OwnerCheckFilter"]

log = logging.getLogger("cpragate.authz")


_str = owner_value  # the comparison's value of a JSON scalar (fastpath.py)


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
        self.fast = OwnerFast(config.deny_objects_as, self._deny)
        # The pipeline calls the compiled method directly (fastpath.py): no Python frame.
        self.response_now = self.fast.response_now  # type: ignore[method-assign]

    def _deny(self, rule: AuthzRule, why: str) -> Verdict:
        return object_denial(self.cfg, rule, why)

    def applies_to(self, route: RouteInfo) -> bool:
        r = rule_of(route)
        return r is not None and (bool(r.owner) or (r.served_ids is not None and r.served_ids.learn is not None))

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """The owner check, synchronously; None (having read nothing) on a route that learns
        served ids from the response, whose store is awaited (``on_response``). Bound to
        fastpath.py in __init__."""
        return self.fast.response_now(exchange)

    async def on_response(self, exchange: Exchange) -> Verdict:
        p = self.fast.plan(exchange.route)
        verdict, doc = self.fast.check(exchange, p)
        if verdict is not CONTINUE or doc is UNREAD:
            return verdict
        rule = p.rule
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
