"""The admin API: sans-IO request handlers, JSON in and out (server/admin.py does the I/O).

Endpoints (all but ``/metrics`` need ``Authorization: Bearer ADMIN_KEY``):

====== =================================== ======== =========================================
method path                                role     answers
====== =================================== ======== =========================================
GET    /api/whoami                         read     the key's name and role
GET    /api/overview                       read     totals, charts' time series, summaries
GET    /api/inventory[?format=csv|openapi] read     observed endpoints vs the specs; exports
GET    /api/datamap                        read     endpoints x CPRA categories (SPI flagged)
GET    /api/consumers                      read     consumers, key prefixes and states, traffic
GET    /api/alerts                         read     alerts, newest first (?unacknowledged=1)
POST   /api/alerts/{id}/ack                write    acknowledge an alert
GET    /api/blocks                         read     active blocks and throttles
DELETE /api/blocks/{kind}/{subject}        write    lift a block (kind: consumer | ip)
GET    /api/audit?consumer=&route=&...     read     audit events (the trail's own search)
GET    /api/dsar?subject=ID[&since=12mo]   read     the right-to-know report for one subject
POST   /api/detokenize                     detok.   values behind reversible PII tokens
GET    /metrics                            metrics  Prometheus text format
====== =================================== ======== =========================================

Rules: answers never hold a key hash or secret (API keys by public prefix only), a raw
audit subject id other than the one asked for, or a request body. Refusals are
``application/problem+json`` with a stable code. Every change (ack, lift) names the
admin key that made it.

Detokenize (issue 5): ``{"tokens": [...], "reason": "why"}`` as ``application/json``
answers one result per token, in order: ``{"entity", "category", "spi", "value"}`` or
``{"error", "detail"}`` (a forged, altered or foreign token; the detail says nothing
about the key or value). Only the ``detokenize`` role may call it (auth.py says why).
Every call with a key (a wrong one included), refused or not, writes one audit event
through the gateway's trail before it is answered (who, when, outcome, entity and
category counts, how many tokens, the reason with tokens and personal data redacted;
never a token or a value), except refusals past ``max_audited_refusals`` per key name and
per address and minute (one ``audit_paused`` event, then none: no key of any role can
flood the trail). Admin events never take the spool's reserve for data-plane completions.
When the event of a reveal cannot be spooled, nothing is revealed (503); a refusal stays
the refusal. Batches, looked-up tokens per key and minute, and refused tokens per key and
minute (checked token by token) are bounded (``admin.detokenize``).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from cpragate.admin.auth import AdminAuth, AdminPrincipal, Permission, WindowCounter
from cpragate.admin.config import DetokenizeLimits
from cpragate.admin.metrics import Gauge, Metrics
from cpragate.core.clock import Clock, SystemClock
from cpragate.errors import (
    AdminAuthError,
    AdminBodyError,
    AdminError,
    AuditUnavailable,
    CpraGateError,
    DetokenizeLimited,
    DetokenizeUnavailable,
    PiiError,
    PiiNotReversible,
    PiiTokenAltered,
    PiiTokenError,
)
from cpragate.filters.inventory.model import DocumentedOp, Inventory, to_csv, to_openapi

__all__ = ["AdminApi", "AdminResponse", "Sources", "parse_since"]

log = logging.getLogger("cpragate.admin")

JSON = b"application/json"
_NO_STORE = (b"cache-control", b"no-store")


@dataclass
class AdminResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class Sources:
    """What the API reads and changes; each part may be missing (then it answers empty)."""

    metrics: Callable[[], Metrics | None] = lambda: None
    inventory: Callable[[], Inventory | None] = lambda: None
    documented: Callable[[], list[DocumentedOp]] = lambda: []
    alerts: Callable[[], Any] = lambda: None
    blocks: Callable[[], Any] = lambda: None
    identity: Callable[[], Any] = lambda: None
    config_consumers: Callable[[], list[Any]] = lambda: []
    """Consumers declared in the config (``ConsumerConfig``)."""
    config_keys: Callable[[], list[tuple[str, str, float | None]]] = lambda: []
    """API keys declared in the config: (consumer, prefix, expires)."""
    audit_search: Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]] | None = None
    dsar: Callable[[str, float], Awaitable[dict[str, Any]]] | None = None
    audit_stats: Callable[[], dict[str, Any] | None] = lambda: None
    extra_gauges: list[Gauge] = field(default_factory=list)
    """Gauges read at scrape time (audit spool, inventory states)."""
    scrape_gauges: Callable[[], Awaitable[list[Gauge]]] | None = None
    """Gauges that need the stores' async reads (alerts, blocks), built per scrape."""
    pii_engine: Callable[[], Any] = lambda: None
    """The pii filter's engine (``cpragate.pii.Engine``), None when the filter is off."""
    audit_event: Callable[[list[Any]], Awaitable[bool]] | None = None
    """Spools one whole audit event (the audit filter's ``["e", begin, completion]``
    record) on the gateway's trail; False when it could not; None when audit is off."""
    audit_lookup: Callable[[str], str | None] | None = None
    """The trail's keyed lookup (``AuditLog.lookup``): each revealed value is recorded as a
    subject by it (never the value), so the trail answers "was this person's data revealed"
    (``/api/audit?subject=VALUE``, the DSAR report)."""
    new_id: Callable[[], str] = lambda: "adm-" + secrets.token_hex(8)
    """A request id for the audit events the API writes."""


class _Problem(Exception):
    def __init__(self, status: int, error: type[CpraGateError], detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def parse_since(text: str, now: float) -> float:
    """``24h``, ``30d``, ``12mo`` (ago), an ISO date/time, or Unix seconds → Unix seconds."""
    t = text.strip()
    m = re.fullmatch(r"(\d+)(s|m|h|d|w|mo|y)", t)
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{t[:40]!r} is not a time: use 24h, 30d, 12mo, an ISO date or Unix seconds") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def _loopback_host(host: bytes | None) -> bool:
    """Whether a Host header names this machine by a loopback name (a page from another site
    that rebinds its DNS name to 127.0.0.1 sends its own name: it gets no open /metrics)."""
    if not host:
        return False
    h = host.decode("latin-1").lower()
    name = h[: h.rindex("]") + 1] if h.startswith("[") else h.rpartition(":")[0] or h
    return name in ("localhost", "[::1]") or name.startswith("127.")


def _json(data: Any, status: int = 200) -> AdminResponse:
    return AdminResponse(status, [(b"content-type", JSON), _NO_STORE], orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))


def _problem(status: int, error: type[CpraGateError], detail: str) -> AdminResponse:
    body = {"type": "about:blank", "title": error.title, "status": status, "code": error.code, "detail": detail}
    return AdminResponse(status, [(b"content-type", b"application/problem+json"), _NO_STORE], orjson.dumps(body))


class AdminApi:
    """Routes one admin request to its handler; see the module docstring."""

    def __init__(
        self,
        auth: AdminAuth,
        sources: Sources,
        *,
        metrics_open: bool = False,
        max_rows: int = 1000,
        clock: Clock | None = None,
        detokenize: DetokenizeLimits | None = None,
    ) -> None:
        self.auth = auth
        self.src = sources
        self.metrics_open = metrics_open
        self.max_rows = max_rows
        self.clock = clock or SystemClock()
        self.detok = detokenize or DetokenizeLimits()
        self._detok_looked_up = WindowCounter(self.clock, self.detok.max_values_per_minute, 60.0)
        self._detok_refused = WindowCounter(self.clock, self.detok.max_failures, 60.0)
        self._detok_audited = WindowCounter(self.clock, self.detok.max_audited_refusals, 60.0)
        """Audited refusals per ``key:NAME`` and ``ip:ADDRESS`` (bounded: see _audit_refusal)."""

    async def handle(
        self, method: str, path: str, query: bytes, headers: dict[bytes, bytes], client: str = "", body: bytes = b""
    ) -> AdminResponse:
        """One admin request; ``body`` is the request body (only POST /api/detokenize reads one)."""
        try:
            return await self._route(method, path, query, headers, client, body)
        except _Problem as p:
            return _problem(p.status, p.error, p.detail)

    # --- routing and auth --------------------------------------------------------------
    def _principal(self, headers: dict[bytes, bytes], client: str, need: Permission) -> AdminPrincipal:
        if self.auth.locked_out(client):
            raise _Problem(429, AdminAuthError, "too many failed admin key attempts from this address; wait a minute")
        p = self.auth.authenticate(AdminAuth.presented(headers.get(b"authorization")), client)
        if p is None:
            raise _Problem(401, AdminAuthError, "send Authorization: Bearer ADMIN_KEY with a key from admin.keys")
        if not p.may(need):
            raise _Problem(403, AdminAuthError, f"the {p.role} role may not do this")
        return p

    async def _route(
        self, method: str, path: str, query: bytes, headers: dict[bytes, bytes], client: str, body: bytes = b""
    ) -> AdminResponse:
        q = {k: v[-1] for k, v in parse_qs(query.decode("latin-1"), keep_blank_values=False).items()}
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                raise _Problem(405, AdminError, "use GET")
            if not (self.metrics_open and _loopback_host(headers.get(b"host"))):
                self._principal(headers, client, "metrics")
            extra = await self.src.scrape_gauges() if self.src.scrape_gauges is not None else []
            return self.metrics_text(extra)
        if not path.startswith("/api/"):
            raise _Problem(404, AdminError, "no such admin endpoint; see docs/monitoring.md")
        parts = [unquote(p) for p in path[5:].split("/")]
        if parts == ["detokenize"]:
            return await self.detokenize(method, headers, body, client)
        write = method in ("POST", "DELETE", "PUT", "PATCH")
        who = self._principal(headers, client, "write" if write else "read")
        head = parts[0]
        if method == "GET":
            if parts == ["whoami"]:
                return _json({"name": who.name, "role": who.role})
            if parts == ["overview"]:
                return _json(await self.overview())
            if parts == ["inventory"]:
                return self.inventory(q.get("format", "json"))
            if parts == ["datamap"]:
                inv = self.src.inventory()
                return _json(inv.data_map(self.src.documented()) if inv else {"categories": [], "endpoints": []})
            if parts == ["consumers"]:
                return _json(await self.consumers())
            if parts == ["alerts"]:
                return _json(await self.alerts(q))
            if parts == ["blocks"]:
                return _json(await self.blocks())
            if parts == ["audit"]:
                return _json(await self.audit(q))
            if parts == ["dsar"]:
                return _json(await self.dsar(q))
        elif method == "POST" and head == "alerts" and len(parts) == 3 and parts[2] == "ack":
            return _json(await self.ack(parts[1], who))
        elif method == "DELETE" and head == "blocks" and len(parts) == 3:
            return _json(await self.lift(parts[1], parts[2], who))
        known = {"whoami", "overview", "inventory", "datamap", "consumers", "alerts", "blocks", "audit", "dsar"}
        if head in known:
            raise _Problem(405, AdminError, f"{method} is not allowed on /api/{'/'.join(parts)}")
        raise _Problem(404, AdminError, "no such admin endpoint; see docs/monitoring.md")

    # --- handlers ------------------------------------------------------------------------
    def metrics_text(self, scraped: list[Gauge] | None = None) -> AdminResponse:
        m = self.src.metrics()
        extra = [*self.src.extra_gauges, *(scraped or [])]
        text = m.render(extra) if m is not None else Metrics().render(extra)
        return AdminResponse(200, [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"), _NO_STORE], text.encode())

    async def overview(self) -> dict[str, Any]:
        now = self.clock.time()
        m = self.src.metrics()
        out: dict[str, Any] = {"now": now}
        routes: dict[str, dict[str, int]] = {}
        total = denied = 0
        if m is not None:
            for (route, _method, status), n in m.requests.values.items():
                r = routes.setdefault(route, {"requests": 0, "errors": 0})
                r["requests"] += int(n)
                total += int(n)
                if status.startswith("5"):
                    r["errors"] += int(n)
            reasons: dict[str, int] = {}
            for (code, _f), n in m.denials.values.items():
                reasons[code] = reasons.get(code, 0) + int(n)
                denied += int(n)
            out["denials_by_reason"] = dict(sorted(reasons.items(), key=lambda x: -x[1]))
            out["pi_served"] = {c[0]: int(n) for c, n in sorted(m.pi_served.values.items())}
            out["spi_served"] = int(sum(m.spi_served.values.values()))
            points = m.timeline.points(now)
            step = m.timeline.step
        else:
            out["denials_by_reason"], out["pi_served"], out["spi_served"] = {}, {}, 0
            points, step = [], 10.0
        out["requests"] = total
        out["denials"] = denied
        out["routes"] = [
            {"route": k, **v} for k, v in sorted(routes.items(), key=lambda kv: -kv[1]["requests"])
        ][:50]
        alerts_store = self.src.alerts()
        alert_bins: dict[int, int] = {}
        open_alerts = total_alerts = 0
        by_severity: dict[str, int] = {}
        if alerts_store is not None:
            recent = await alerts_store.list(limit=10_000)
            total_alerts = len(recent)
            for a in recent:
                if a.acknowledged_by is None:
                    open_alerts += 1
                by_severity[a.severity] = by_severity.get(a.severity, 0) + 1
                alert_bins[int(a.created_at // step)] = alert_bins.get(int(a.created_at // step), 0) + 1
        out["timeline"] = {
            "step": step,
            "points": [
                {"t": t, "requests": r, "denials": d, "alerts": alert_bins.get(int(t // step), 0)} for t, r, d in points
            ],
        }
        out["alerts"] = {"open": open_alerts, "total": total_alerts, "by_severity": by_severity}
        blocks = self.src.blocks()
        out["blocks"] = len(await blocks.active(now)) if blocks is not None else 0
        inv = self.src.inventory()
        out["inventory"] = inv.snapshot(self.src.documented())["summary"] if inv is not None else None
        out["audit"] = self.src.audit_stats()
        return out

    def inventory(self, fmt: str) -> AdminResponse:
        inv = self.src.inventory()
        if inv is None:
            raise _Problem(404, AdminError, "the inventory is off: enable filters.inventory (on by default with admin:)")
        snap = inv.snapshot(self.src.documented())
        if fmt == "json":
            return _json(snap)
        if fmt == "csv":
            return AdminResponse(
                200,
                [(b"content-type", b"text/csv; charset=utf-8"), _NO_STORE,
                 (b"content-disposition", b'attachment; filename="cpragate-inventory.csv"')],
                to_csv(snap).encode(),
            )
        if fmt == "openapi":
            return _json(to_openapi(snap))
        raise _Problem(400, AdminError, "format must be json, csv or openapi")

    async def consumers(self) -> list[dict[str, Any]]:
        now = self.clock.time()
        found: dict[str, dict[str, Any]] = {}
        for c in self.src.config_consumers():
            found[c.name] = {"name": c.name, "purpose": c.purpose, "scopes": sorted(c.scopes), "source": "config",
                             "disabled": False, "keys": []}
        ident = self.src.identity()
        if ident is not None:
            for c in await ident.list_consumers():
                found.setdefault(c.name, {"name": c.name, "purpose": c.purpose, "scopes": sorted(c.scopes),
                                          "source": "store", "disabled": c.disabled, "keys": []})
            for k in await ident.list_keys():
                entry = found.setdefault(k.consumer, {"name": k.consumer, "purpose": None, "scopes": [],
                                                      "source": "store", "disabled": False, "keys": []})
                entry["keys"].append({"prefix": k.prefix, "state": k.state_at(now), "created": k.created or None,
                                      "expires": k.expires, "source": "store"})
        for consumer, prefix, expires in self.src.config_keys():
            entry = found.setdefault(consumer, {"name": consumer, "purpose": None, "scopes": [], "source": "config",
                                                "disabled": False, "keys": []})
            state = "expired" if expires is not None and now >= expires else "active"
            entry["keys"].append({"prefix": prefix, "state": state, "created": None, "expires": expires, "source": "config"})
        inv = self.src.inventory()
        traffic: dict[str, dict[str, Any]] = {}
        if inv is not None:
            for ep in inv.endpoints.values():
                for name, n in ep.consumers.items():
                    t = traffic.setdefault(name, {"requests": 0, "endpoints": 0, "categories": set(), "spi_endpoints": 0,
                                                  "last_seen": 0.0})
                    t["requests"] += n
                    t["endpoints"] += 1
                    if name in ep.recipients:  # served personal information there, not only refused
                        t["categories"].update(ep.categories)
                        if ep.spi:
                            t["spi_endpoints"] += 1
                    t["last_seen"] = max(t["last_seen"], ep.last_seen)
        for name in traffic:
            if name not in found:
                found[name] = {"name": name, "purpose": None, "scopes": [], "source": "observed", "disabled": False,
                               "keys": []}
        out = []
        for name, e in sorted(found.items()):
            seen = traffic.get(name)
            e["traffic"] = (
                {**seen, "categories": sorted(seen["categories"])} if seen else
                {"requests": 0, "endpoints": 0, "categories": [], "spi_endpoints": 0, "last_seen": None}
            )
            out.append(e)
        return out

    async def alerts(self, q: dict[str, str]) -> list[dict[str, Any]]:
        store = self.src.alerts()
        if store is None:
            return []
        limit = self._limit(q)
        since = self._time(q, "since")
        found = await store.list(since=since, limit=limit, detector=q.get("detector") or None,
                                 unacknowledged_only=q.get("unacknowledged") in ("1", "true", "yes"))
        return [a.to_json() for a in found]

    async def ack(self, alert_id: str, who: AdminPrincipal) -> dict[str, Any]:
        store = self.src.alerts()
        if store is None or not await store.acknowledge(alert_id, who.name):
            raise _Problem(404, AdminError, "no alert with this id")
        a = await store.get(alert_id)
        return a.to_json() if a is not None else {"id": alert_id, "acknowledged_by": who.name}

    async def blocks(self) -> list[dict[str, Any]]:
        store = self.src.blocks()
        if store is None:
            return []
        return [b.to_json() for b in await store.active(self.clock.time())]

    async def lift(self, kind: str, subject: str, who: AdminPrincipal) -> dict[str, Any]:
        if kind not in ("consumer", "ip"):
            raise _Problem(400, AdminError, "block kind must be consumer or ip")
        store = self.src.blocks()
        if store is None or not await store.lift(kind, subject, who.name):
            raise _Problem(404, AdminError, "no active block on this subject")
        return {"lifted": True, "subject_kind": kind, "subject": subject, "lifted_by": who.name}

    def _limit(self, q: dict[str, str]) -> int:
        raw = q.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_rows:
            raise _Problem(400, AdminError, f"limit must be an integer from 1 to {self.max_rows}")
        return int(raw)

    def _time(self, q: dict[str, str], name: str) -> float | None:
        v = q.get(name)
        if not v:
            return None
        try:
            return parse_since(v, self.clock.time())
        except ValueError as e:
            raise _Problem(400, AdminError, f"{name}: {e}") from None

    async def audit(self, q: dict[str, str]) -> dict[str, Any]:
        if self.src.audit_search is None:
            raise _Problem(404, AdminError, "the audit trail is off: enable filters.audit")
        decision = q.get("decision") or None
        outcome = q.get("outcome") or None
        if decision not in (None, "allow", "deny", "error"):
            raise _Problem(400, AdminError, "decision must be allow, deny or error")
        if outcome not in (None, "served", "denied", "error", "aborted", "interrupted"):
            raise _Problem(400, AdminError, "outcome must be served, denied, error, aborted or interrupted")
        query = {
            "consumer": q.get("consumer") or None,
            "route": q.get("route") or None,
            "subject": q.get("subject") or None,
            "decision": decision,
            "outcome": outcome,
            "since": self._time(q, "since"),
            "until": self._time(q, "until"),
            "limit": self._limit(q),
        }
        t0 = time.perf_counter()
        events = await self.src.audit_search(query)
        return {"events": events, "count": len(events), "ms": round((time.perf_counter() - t0) * 1000, 1)}

    async def dsar(self, q: dict[str, str]) -> dict[str, Any]:
        if self.src.dsar is None:
            raise _Problem(404, AdminError, "the audit trail is off: enable filters.audit")
        subject = (q.get("subject") or "").strip()
        if not subject or len(subject) > 256:
            raise _Problem(400, AdminError, "subject is required (the data subject's id as the API names it)")
        since = self._time(q, "since")
        return await self.src.dsar(subject, since if since is not None else self.clock.time() - 365 * 86400)

    # --- detokenize (issue 5): values behind reversible PII tokens, audited ---------------------
    async def detokenize(self, method: str, headers: dict[bytes, bytes], body: bytes, client: str) -> AdminResponse:
        """``POST /api/detokenize`` (see the module docstring); every call with a key is audited."""
        # Not audited: an address locked out by wrong keys, and a call without any key (both are
        # refused before a key is checked; auditing them would let anyone fill the audit spool).
        if self.auth.locked_out(client):
            raise _Problem(429, AdminAuthError, "too many failed admin key attempts from this address; wait a minute")
        if AdminAuth.presented(headers.get(b"authorization")) is None:
            raise _Problem(401, AdminAuthError, _DETOK_401)
        audit = self.src.audit_event
        if audit is None:
            # 401/403 first, worded as with the trail on: the config is no one else's business
            self._detok_principal(headers, client)
            raise _Problem(409, DetokenizeUnavailable,
                           "detokenize is audited and the audit trail is off: enable filters.audit")
        rec = _DetokenizeAudit(self.src.new_id(), self.clock.time(), self.clock.monotonic(), method, client, len(body))
        rec.peek(body)
        try:
            resp = self._detokenize(method, headers, body, client, rec)
        except _Problem as p:
            rec.status, rec.error = p.status, p.error.code
            resp = _problem(p.status, p.error, p.detail)
        if resp.status != 200 and not self._audit_refusal(client, rec):
            return resp  # past the bound for this key or address: refused unaudited
        rec.settle_reason(self._scrub)
        if not await audit(rec.record(self.clock.time(), self.clock.monotonic(), len(resp.body))) and resp.status == 200:
            # Only a reveal is withheld; a refusal stays the refusal (a 503 would tell a caller
            # with a wrong key or role how full the spool is, and gives it nothing anyway).
            return _problem(503, AuditUnavailable,
                            "the detokenize call could not be written to the audit trail, so nothing was revealed; "
                            "see the gateway log (CPG-AUD-003) and retry")
        return resp

    def _audit_refusal(self, client: str, rec: _DetokenizeAudit) -> bool:
        """Whether to audit this refused call: at most ``max_audited_refusals`` per key name and
        per address and minute; the one past it is audited as ``audit_paused``, later ones not.

        Any valid key (of any role) and any address can make refusals; without a bound they
        could fill the audit spool and bury the events that matter.
        """
        names = [f"ip:{client}"] + ([f"key:{rec.who}"] if rec.who is not None else [])
        counter = self._detok_audited
        n = max(counter.count(k) for k in names)
        for k in names:
            counter.add(k)
        limit = self.detok.max_audited_refusals
        if n < limit:
            return True
        if n == limit:
            rec.audit_paused = True
            log.warning("detokenize: more than %d refused calls in a minute from key %s at %s; "
                        "further refusals are answered without an audit event until the minute has passed",
                        limit, rec.who or "(none valid)", client or "-")
            return True
        return False

    def _scrub(self, text: str) -> str:
        """``text`` made fit for the audit trail: characters that are not printable replaced,
        anything shaped like a token of the configured prefix redacted (the pii engine does
        not know tokens, and a pasted token is the value to anyone holding the key), then the
        personal data the pii engine finds redacted."""
        text = "".join(c if c.isprintable() else "\ufffd" for c in text)
        engine = self.src.pii_engine()
        if engine is None:
            return _token_shaped("tok_").sub("[REDACTED:token]", text)
        prefix = getattr(getattr(getattr(engine, "config", None), "tokenize", None), "prefix", "tok_")
        text = _token_shaped(str(prefix)).sub("[REDACTED:token]", text)
        from cpragate.pii import Action, ActionRules  # loaded already when there is an engine

        out, _ = engine.process_text(text, ActionRules(default=Action.REDACT, spi=None))
        return str(out)

    def _detok_principal(
        self, headers: dict[bytes, bytes], client: str, rec: _DetokenizeAudit | None = None
    ) -> AdminPrincipal:
        """The caller's key, which must be of role detokenize (401/403 read the same with or without audit)."""
        who = self.auth.authenticate(AdminAuth.presented(headers.get(b"authorization")), client)
        if who is None:
            raise _Problem(401, AdminAuthError, _DETOK_401)
        if rec is not None:
            rec.who, rec.role = who.name, who.role
        if not who.may("detokenize"):
            raise _Problem(403, AdminAuthError,
                           f"the {who.role} role may not detokenize; only a key of role detokenize may (admin.keys)")
        return who

    def _detokenize(
        self, method: str, headers: dict[bytes, bytes], body: bytes, client: str, rec: _DetokenizeAudit
    ) -> AdminResponse:
        who = self._detok_principal(headers, client, rec)
        if method != "POST":
            raise _Problem(405, AdminError, "use POST with a JSON body")
        engine = self.src.pii_engine()
        tok_cfg = getattr(getattr(engine, "config", None), "tokenize", None)
        if engine is None or tok_cfg is None or tok_cfg.key is None:
            raise _Problem(409, DetokenizeUnavailable,
                           "no tokenization is configured: enable the pii filter and set filters.pii.engine.tokenize.key")
        rec.prefix = str(tok_cfg.prefix)
        if not tok_cfg.reversible:
            raise _Problem(409, PiiNotReversible,
                           "tokens are keyed hashes (filters.pii.engine.tokenize.reversible is false) and cannot be "
                           "reversed; set reversible: true to detokenize tokens made from then on")
        tokens = self._detokenize_body(headers, body)
        if self._detok_refused.reached(who.name):
            raise _Problem(429, DetokenizeLimited,
                           f"this key sent {self.detok.max_failures} or more refused tokens in the last minute; wait a minute")
        if self._detok_looked_up.count(who.name) + len(tokens) > self.detok.max_values_per_minute:
            raise _Problem(429, DetokenizeLimited,
                           f"at most {self.detok.max_values_per_minute} tokens per key and minute "
                           "(admin.detokenize.max_values_per_minute); wait a minute")
        self._detok_looked_up.add(who.name, len(tokens))
        results: list[dict[str, Any]] = []
        refused = self._detok_refused
        for token in tokens:
            if refused.reached(who.name):  # within the batch too: one batch cannot overshoot the limit
                rec.refused += 1
                results.append({"error": DetokenizeLimited.code, "detail": _LIMIT_REACHED})
                continue
            try:
                value, entity, category, spi = engine.reveal(token)
            except PiiTokenError as e:
                rec.refused += 1
                refused.add(who.name)
                altered = isinstance(e, PiiTokenAltered)  # else: no prefix or "_r", a keyed hash, too long
                results.append({"error": PiiTokenError.code, "detail": _INVALID if altered else _MALFORMED})
                continue
            except PiiError:  # the engine changed under us (a reload): no partial answers
                raise _Problem(409, DetokenizeUnavailable, "tokenization changed during the call; retry") from None
            rec.reveal(entity, category, bool(spi))
            if self.src.audit_lookup is not None and len(rec.subjects) < _MAX_SUBJECTS:
                lk = self.src.audit_lookup(value)
                if lk is not None and lk not in rec.subjects:
                    rec.subjects.append(lk)
            results.append({"entity": entity, "category": category, "spi": bool(spi), "value": value})
        rec.status = 200
        return _json({"results": results, "revealed": rec.revealed, "refused": rec.refused, "audit_id": rec.rid})

    def _detokenize_body(self, headers: dict[bytes, bytes], body: bytes) -> list[str]:
        """The request's tokens, after checking the whole body (the reason is in the audit record)."""
        ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if ctype != b"application/json":
            raise _Problem(415, AdminBodyError, "send Content-Type: application/json")
        if not body:
            raise _Problem(400, AdminBodyError, 'a JSON body is required: {"tokens": ["tok_..."], "reason": "why"}')
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Problem(400, AdminBodyError, "the body is not valid JSON (UTF-8)") from None
        if not isinstance(doc, dict):
            raise _Problem(400, AdminBodyError, 'the body must be a JSON object: {"tokens": [...], "reason": "why"}')
        unknown = sorted(set(doc) - {"tokens", "reason"})
        if unknown:
            names = ", ".join(repr(k[:40]) for k in unknown[:5])
            raise _Problem(400, AdminBodyError, f"unknown field(s) {names}: the body takes only tokens and reason")
        tokens = doc.get("tokens")
        if not isinstance(tokens, list) or not tokens:
            raise _Problem(400, AdminBodyError, "tokens must be a non-empty list of token strings")
        if len(tokens) > self.detok.max_batch:
            raise _Problem(400, AdminBodyError,
                           f"at most {self.detok.max_batch} tokens per request (admin.detokenize.max_batch); split the batch")
        for i, t in enumerate(tokens):
            if not isinstance(t, str) or not 1 <= len(t) <= _MAX_TOKEN:
                raise _Problem(400, AdminBodyError, f"tokens[{i}] must be a string of 1 to {_MAX_TOKEN} characters")
        reason = doc.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise _Problem(400, AdminBodyError,
                           "reason is required: why the values are needed (e.g. a ticket number); it goes to the audit trail")
        reason = reason.strip()
        if not self.detok.min_reason_chars <= len(reason) <= _MAX_REASON or not reason.isprintable():
            raise _Problem(400, AdminBodyError,
                           f"reason must be one line of {self.detok.min_reason_chars} to {_MAX_REASON} printable characters")
        return tokens


_MAX_TOKEN = 4096
_MAX_SUBJECTS = 64  # subjects kept per audit event (cpragate.audit.events)


@lru_cache(maxsize=8)
def _token_shaped(prefix: str) -> re.Pattern[str]:
    """Text shaped like a token of ``prefix``: PREFIX<entity>_<body> (reversible or keyed hash),
    the body possibly cut short; without a prefix, a longer body is needed not to hit words."""
    body = 4 if prefix else 12
    return re.compile(re.escape(prefix) + r"[a-z][a-z0-9_]{0,41}_[A-Za-z0-9_\-]{" + str(body) + ",}")


_LIMIT_REACHED = ("not looked up: this key reached admin.detokenize.max_failures refused tokens in the last minute; "
                  "wait a minute")
_DETOK_401 = "send Authorization: Bearer ADMIN_KEY with a key of role detokenize"
_MAX_REASON = 500
_MALFORMED = "not a reversible token (PREFIX<entity>_r<data>); a keyed-hash token cannot be reversed"
_INVALID = "not a valid token of this gateway's key: altered, truncated, or made with another key"


class _DetokenizeAudit:
    """What one detokenize call writes to the audit trail: counts and the reason, never a token or value."""

    def __init__(self, rid: str, t: float, mono: float, method: str, client: str, bytes_in: int) -> None:
        self.rid, self.t, self.mono, self.method, self.client, self.bytes_in = rid, t, mono, method, client, bytes_in
        self.who: str | None = None
        self.role: str | None = None
        self.prefix: str | None = None
        self.reason: str | None = None
        self.reason_chars: int | None = None
        self._raw_reason: str | None = None
        self.tokens: int | None = None
        self.revealed = self.refused = self.spi = 0
        self.entities: dict[str, int] = {}
        self.subjects: list[str] = []
        """Keyed lookups of the revealed values (their subjects), never the values."""
        self.categories: dict[str, int] = {}
        self.status = 500
        self.error: str | None = None
        self.audit_paused = False

    def peek(self, body: bytes) -> None:
        """The reason and token count of a body, as far as it can be read (refusals are audited too)."""
        try:
            doc = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict):
            return
        if isinstance(doc.get("tokens"), list):
            self.tokens = len(doc["tokens"])
        reason = doc.get("reason")
        if isinstance(reason, str) and reason.strip():
            self._raw_reason = reason.strip()[:_MAX_REASON]
            self.reason_chars = len(reason.strip())

    def settle_reason(self, scrub: Callable[[str], str]) -> None:
        """The reason as recorded: scrubbed (see AdminApi._scrub) for a caller with a valid key;
        only its length for a call that failed authentication (its text is anyone's input)."""
        if self._raw_reason is not None and self.who is not None:
            self.reason = scrub(self._raw_reason)

    def reveal(self, entity: str, category: str, spi: bool) -> None:
        self.revealed += 1
        self.entities[entity] = self.entities.get(entity, 0) + 1
        self.categories[category] = self.categories.get(category, 0) + 1
        self.spi += spi

    def record(self, t_end: float, mono_end: float, bytes_out: int) -> list[Any]:
        """The audit filter's single-event record (``["e", begin, completion]``, cpragate.audit.events)."""
        ok = self.status == 200
        outcome = "served" if ok else "error" if self.status >= 500 else "denied"
        rule = "detokenize" if ok else f"detokenize:{self.error or self.status}"
        annotations: dict[str, Any] = {
            "detokenize": {
                "admin_key": self.who,
                "role": self.role,
                "reason": self.reason,
                "reason_chars": self.reason_chars,
                "tokens": self.tokens,
                "revealed": self.revealed,
                "refused": self.refused,
                "prefix": self.prefix,
            }
        }
        if self.audit_paused:  # the summary: later refusals of this key/address in this minute are not audited
            annotations["detokenize"]["audit_paused"] = True
        if self.revealed:
            annotations["pii"] = {"categories": self.categories, "entities": self.entities, "spi": self.spi,
                                  "actions": {"detokenize": self.revealed}}
        begin = ["b", self.t, self.rid, self.method, "/api/detokenize", "admin.detokenize", [], self.subjects, self.who,
                 "admin_key", None, self.client or None, True]
        completion = ["c", None, t_end, self.status, outcome, self.error, [["admin", "allow" if ok else "deny", rule]],
                      annotations, [], self.bytes_in, bytes_out, round((mono_end - self.mono) * 1000.0, 3)]
        return ["e", begin, completion]
