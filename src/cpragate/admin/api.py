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
GET    /metrics                            metrics  Prometheus text format
====== =================================== ======== =========================================

Rules: answers never hold a key hash or secret (API keys by public prefix only), a raw
audit subject id other than the one asked for, or a request body. Refusals are
``application/problem+json`` with a stable code. Every change (ack, lift) names the
admin key that made it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from cpragate.admin.auth import AdminAuth, AdminPrincipal, Permission
from cpragate.admin.metrics import Gauge, Metrics
from cpragate.core.clock import Clock, SystemClock
from cpragate.errors import AdminAuthError, AdminError
from cpragate.filters.inventory.model import DocumentedOp, Inventory, to_csv, to_openapi

__all__ = ["AdminApi", "AdminResponse", "Sources", "parse_since"]

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


class _Problem(Exception):
    def __init__(self, status: int, error: type[AdminError], detail: str) -> None:
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


def _problem(status: int, error: type[AdminError], detail: str) -> AdminResponse:
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
    ) -> None:
        self.auth = auth
        self.src = sources
        self.metrics_open = metrics_open
        self.max_rows = max_rows
        self.clock = clock or SystemClock()

    async def handle(
        self, method: str, path: str, query: bytes, headers: dict[bytes, bytes], client: str = ""
    ) -> AdminResponse:
        try:
            return await self._route(method, path, query, headers, client)
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
        self, method: str, path: str, query: bytes, headers: dict[bytes, bytes], client: str
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
