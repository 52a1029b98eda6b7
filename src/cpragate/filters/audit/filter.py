"""One audit event per exchange, written in two steps so a crash loses nothing.

Theory of operation:

1. Priority 10, the lowest: ``on_request`` runs last in the request phase, just before
   the request is forwarded. It spools a *begin* record (``AuditLog.begin``: a memory
   copy, no system call) and keeps its spool position on ``exchange.audit``. A full
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

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import AuditError, AuditSpoolFull
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings, parse_json_path

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


def _violations(vs: Any) -> list[list[str]]:
    out: list[list[str]] = []
    for v in (vs or ())[:_MAX_SUBJECTS]:
        out.append([str(getattr(v, "pointer", "")), str(getattr(v, "rule", ""))])
    return out


def exchange_annotations(ex: Exchange) -> dict[str, Any] | None:
    """The other filters' findings, as counts, pointers and rules (never values); read
    defensively: each slot may be None or from a newer version."""
    out: dict[str, Any] = {}
    pii = ex.pii
    if pii is not None:
        out["pii"] = {
            "categories": dict(getattr(pii, "categories", None) or {}),
            "entities": dict(getattr(pii, "entities", None) or {}),
            "spi": int(getattr(pii, "spi", 0) or 0),
            "actions": dict(getattr(pii, "actions", None) or {}),
        }
        if getattr(pii, "blocked", False):
            out["pii"]["blocked"] = str(getattr(pii, "blocked_by", None) or "")
        req = getattr(pii, "request", None)
        if req is not None:  # what the client sent (the pii filter's request side)
            out["pii"]["request"] = {
                "categories": dict(getattr(req, "categories", None) or {}),
                "entities": dict(getattr(req, "entities", None) or {}),
                "spi": int(getattr(req, "spi", 0) or 0),
            }
    val = ex.validation
    if val is not None:
        out["validation"] = {
            "outcome": str(getattr(val, "outcome", "")),
            "violations": _violations(getattr(val, "violations", ())),
            "stripped": [str(p) for p in (getattr(val, "stripped", ()) or ())][:_MAX_SUBJECTS],
        }
    conf = ex.conformance
    if conf is not None:
        out["conformance"] = {
            "outcome": str(getattr(conf, "outcome", "")),
            "removed": dict(getattr(conf, "removed", None) or {}),
            "violations": _violations(getattr(conf, "violations", ())),
        }
    mini = ex.minimize
    if mini is not None:
        out["minimize"] = {
            "rule": str(getattr(mini, "rule", "")),
            "request_removed": dict(getattr(mini, "request_removed", None) or {}),
            "response_removed": dict(getattr(mini, "response_removed", None) or {}),
        }
    return out or None


class _RoutePlan:
    __slots__ = ("json_paths", "required", "subject_param")

    def __init__(self, rs: AuditRouteSettings | None, cfg: AuditConfig) -> None:
        self.required = cfg.required if rs is None or rs.required is None else rs.required
        self.subject_param = rs.subject_param if rs is not None else None
        self.json_paths = tuple(parse_json_path(p) for p in rs.subject_json) if rs is not None else ()


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
        self._lookup_key = trail.lookup
        self._lookups: dict[str, str] = {}
        self._begin = trail.begin
        self._time = ctx.clock.time
        self._mono = ctx.clock.monotonic
        self._plans: dict[int, _RoutePlan] = {}
        self._default_plan = _RoutePlan(None, config)

    def _lookup(self, value: str) -> str:
        """The trail's keyed lookup, memoized (ids repeat; bounded; never leaves the process)."""
        hit = self._lookups.get(value)
        if hit is None:
            if len(self._lookups) >= 65_536:
                self._lookups.clear()
            hit = self._lookups[value] = self._lookup_key(value)
        return hit

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        if rs is not None and rs.enabled is not None:
            return rs.enabled
        return self.cfg.routes == "all" or route.personal

    def _plan(self, route: RouteInfo | None) -> _RoutePlan:
        if route is None:
            return self._default_plan
        plan = self._plans.get(id(route))
        if plan is None:
            plan = self._plans[id(route)] = _RoutePlan(route_settings(route), self.cfg)
        return plan

    def _begin_record(self, ex: Exchange, plan: _RoutePlan) -> list[Any]:
        route = ex.route
        params = ex.params
        plist: list[list[str]] = []
        subjects: list[str] = []
        if params:
            lk = self._lookup
            sp = plan.subject_param
            for k, v in params.items():
                h = lk(v)
                plist.append([k, h])
                if k == sp:
                    subjects.append(h)
        ident = ex.identity
        if ident is not None:
            consumer = getattr(ident, "consumer", None)
            auth = getattr(ident, "method", None)
            purpose = getattr(ident, "purpose", None)
        else:
            consumer = auth = purpose = None
        return [
            "b",
            self._time(),
            ex.request_id,
            ex.request.method,
            route.template if route is not None else None,
            route.name if route is not None else None,
            plist,
            subjects,
            consumer if isinstance(consumer, str) else None,
            auth if isinstance(auth, str) else None,
            purpose if isinstance(purpose, str) else None,
            ex.client_ip,
            route.personal if route is not None else False,
        ]

    async def on_request(self, exchange: Exchange) -> Verdict:
        plan = self._plan(exchange.route)
        pos = await self._begin(self._begin_record(exchange, plan))
        if pos is None:
            if plan.required:
                return Deny(AuditSpoolFull, rule="spool-full")
            return CONTINUE
        exchange.audit = pos
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        plan = self._plan(exchange.route)
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

    async def on_complete(self, exchange: Exchange) -> None:
        resp = exchange.response
        ann = exchange_annotations(exchange)
        started = exchange.started
        latency = round((self._mono() - started) * 1000.0, 3) if started else None
        pos = exchange.audit
        comp = [
            "c",
            pos,
            None if pos is not None else self._time(),
            resp.status if resp is not None else None,
            exchange.outcome,
            exchange.error_code,
            [[d.filter, d.outcome, d.rule] for d in exchange.decisions],
            ann,
            exchange.audit_subjects,
            exchange.bytes_in,
            exchange.bytes_out,
            latency if latency is None or latency >= 0 else None,
        ]
        if pos is not None:
            await self.trail.complete(comp)
        else:
            begin = self._begin_record(exchange, self._plan(exchange.route))
            begin[1] = self._time() - (latency or 0) / 1000.0
            await self.trail.event(["e", begin, comp])
