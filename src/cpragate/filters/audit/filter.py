"""One audit event per exchange, written in two steps so a crash loses nothing.

Theory of operation:

1. Priority 10, the lowest: ``on_request`` runs last in the request phase, just before
   the request is forwarded. It spools a *begin* record (a memory copy, no system call:
   synchronously in ``request_now`` into the writer's spool, fastpath.py; through
   ``AuditLog.begin`` for any other trail) and keeps its spool position on ``exchange.audit``. A full
   spool on a route that requires audit answers 503 (``AuditSpoolFull``): nothing is
   forwarded that could not be audited.
2. ``on_response`` (first on the response path, so it sees the upstream's body before
   any masking) collects data subject ids named by the route's ``subject_json`` paths,
   when the body was buffered for inspection.
3. ``on_complete`` runs after the response was handed to the client, for served,
   denied and failed exchanges alike: it spools the *completion* (status, outcome,
   decisions, the pii filter's counts, bytes, latency). An exchange refused before
   step 1 ran (unrouted, refused by authn...) gets one whole event instead.
4. The writer (storage/audit_writer.py) pairs begins and completions, pseudonymizes,
   chains and ships them in the background; see docs/audit.md for the event schema.

Rules: a record holds no credential, no body, no query string and no raw path value:
path parameters and subject ids are replaced by keyed lookups (``AuditLog.lookup``)
that the writer turns into tokens and per-subject pseudonyms.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cpragate.core.clock import readers
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.errors import AuditError
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings, parse_json_path
from cpragate.filters.audit.fastpath import AuditFast, AuditPlan, exchange_annotations

__all__ = ["AuditFilter", "exchange_annotations", "json_subjects", "route_settings"]

_MAX_SUBJECTS = 64


def route_settings(route: RouteInfo | None) -> AuditRouteSettings | None:
    """The route's own audit settings (``settings.audit``), or None."""
    s = getattr(route.settings, "audit", None) if route is not None else None
    return s if isinstance(s, AuditRouteSettings) else None


def json_subjects(doc: Any, steps: tuple[str | int | None, ...], out: list[str]) -> None:
    """Append the scalar values at ``steps`` in ``doc`` to ``out`` (as strings, bounded)."""
    cur = [doc]
    for st in steps:
        nxt: list[Any] = []
        for node in cur:
            if st is None:
                if isinstance(node, list):
                    nxt.extend(node)
                elif isinstance(node, dict):
                    nxt.extend(node.values())
            elif isinstance(st, int):
                if isinstance(node, list) and -len(node) <= st < len(node):
                    nxt.append(node[st])
            elif isinstance(node, dict) and st in node:
                nxt.append(node[st])
        cur = nxt
    for v in cur:
        if len(out) >= _MAX_SUBJECTS:
            return
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v) not in out:
            out.append(str(v))


def route_plan(rs: AuditRouteSettings | None, cfg: AuditConfig) -> AuditPlan:
    """A route's resolved audit plan (its settings over the filter's defaults)."""
    return AuditPlan(
        cfg.required if rs is None or rs.required is None else rs.required,
        rs.subject_param if rs is not None else None,
        tuple(parse_json_path(p) for p in rs.subject_json) if rs is not None else (),
    )


class AuditFilter(Filter):
    """Spools a begin before forwarding and a completion after answering (see the module doc)."""

    name = "audit"
    priority = 10
    Config: ClassVar[type[FilterConfig]] = AuditConfig
    sees_unrouted: ClassVar[bool] = True
    """The data plane also runs this filter's complete phase for unrouted/malformed requests."""

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        if not isinstance(config, AuditConfig):
            raise TypeError("AuditFilter needs an AuditConfig")
        self.cfg = config
        trail = getattr(ctx.stores, "audit", None)
        if trail is None:
            raise AuditError(
                "filters.audit is enabled but no audit trail is open (it is opened at start; "
                "turning audit on needs a restart, not a reload)."
            )
        self.trail = trail
        # The writer's spool is appended to directly (fastpath.py: ``append_record`` and
        # ``spooled`` of storage/audit_writer.py); any other AuditLog gets the same records
        # through its coroutines.
        append = getattr(trail, "append_record", None)
        on_drop = getattr(trail, "spooled", None)
        direct = callable(append) and callable(on_drop)
        self._fast = AuditFast(
            lambda route: route_plan(route_settings(route), config),
            trail.lookup,
            *readers(ctx.clock),  # the real clock's time.time/time.monotonic: no Python frame per reading
            append if direct else None,
            on_drop if direct else None,
        )
        self._lookup = self._fast.lookup
        if direct:  # the pipeline calls the native methods directly: no Python frame
            self.request_now = self._fast.request_now  # type: ignore[method-assign]
            self.complete_now = self._fast.complete_spooled  # type: ignore[method-assign]
        self.response_now = self._fast.response_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        if rs is not None and rs.enabled is not None:
            return rs.enabled
        return self.cfg.routes == "all" or route.personal

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """The begin spooled synchronously (bound to fastpath.py in __init__ with a spool)."""
        return self._fast.request_now(exchange)

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """CONTINUE at once unless subjects are to be read from the body (bound in __init__)."""
        return self._fast.response_now(exchange)

    async def on_request(self, exchange: Exchange) -> Verdict:
        fast = self._fast
        plan = fast.plan(exchange.route)
        return fast.begun(exchange, plan, await self.trail.begin(fast.begin_record(exchange, plan)))

    async def on_response(self, exchange: Exchange) -> Verdict:
        plan = self._fast.plan(exchange.route)
        resp = exchange.response
        if not plan.json_paths or resp is None or not resp.body or resp.status >= 400:
            return CONTINUE
        try:
            doc = response_json(exchange)
        except ValueError:
            return CONTINUE
        found: list[str] = []
        for steps in plan.json_paths:
            json_subjects(doc, steps, found)
        if found:
            lk = self._lookup
            exchange.audit_subjects = [lk(v) for v in found]
        return CONTINUE

    def complete_now(self, exchange: Exchange) -> bool:
        """The completion spooled synchronously (bound to fastpath.py in __init__ with a spool)."""
        return self._fast.complete_spooled(exchange)

    async def on_complete(self, exchange: Exchange) -> None:
        rec = self._fast.complete_now(exchange)
        if rec is None:  # spooled
            return
        if rec[0] == "e":
            await self.trail.event(rec)
        else:
            await self.trail.complete(rec)
