"""The observed inventory, its comparison with the OpenAPI operations, and its exports.

Rules:

* Keys are (method, template); templates come from the route (``/v1/customers/{id}``)
  or, for wildcard routes and unrouted requests, from :mod:`.templating`. No concrete
  path, query, body or header value is kept.
* Everything is bounded: endpoints (``max_endpoints``, ``max_unrouted``) and consumers
  per endpoint; what does not fit is counted (``overflow``, ``(other)``).
* ``record`` is on the complete phase of every exchange: a handful of dict updates.
  ``snapshot`` and the exports run on the admin API's few requests.

Compared with the documented operations (the OpenAPI operations bound to routes):

* ``documented`` — observed and described by a non-deprecated operation;
* ``shadow`` — observed, described by none (hand-written or wildcard routes, or no route
  at all: then it was refused, but someone calls it);
* ``zombie`` — observed, and its operation is ``deprecated: true``;
* ``unused`` — documented but never observed since the gateway started.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cpragate.filters.inventory.templating import PathTemplater, param_kind, same_shape

__all__ = ["DocumentedOp", "Endpoint", "Inventory", "documented_from_routes", "to_csv", "to_openapi"]

OTHER = "(other)"
ANONYMOUS = "(anonymous)"

_HAS_REQUEST: dict[type, bool] = {}
"""Whether the pii counts of a class carry a ``request`` part (see ``Inventory.record``)."""


@dataclass(frozen=True, slots=True)
class DocumentedOp:
    """An OpenAPI operation a route is bound to."""

    method: str
    template: str
    """The route's template (the spec path with the route's prefix)."""
    operation_id: str | None
    deprecated: bool
    route: str
    location: str = ""


@dataclass(slots=True, eq=False, repr=False)
class Endpoint:
    """What was observed on one method + template."""

    method: str
    template: str
    route: str | None
    first_seen: float
    last_seen: float
    requests: int = 0
    denied: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    consumers: dict[str, int] = field(default_factory=dict)
    settled_categories: dict[str, int] = field(default_factory=dict)
    """Read :attr:`categories` instead (it adds the pending counts first)."""
    settled_entities: dict[str, int] = field(default_factory=dict)
    """Read :attr:`entities` instead (it adds the pending counts first)."""
    spi: int = 0
    request_categories: dict[str, int] = field(default_factory=dict)
    """CPRA categories the pii filter found in what clients sent (query string, body)."""
    request_spi: int = 0
    recipients: dict[str, int] = field(default_factory=dict)
    """Consumers who were *served* responses with personal information, and how many."""
    latency_ms_sum: float = 0.0
    pending_categories: dict[str, int] | None = field(default=None, repr=False, compare=False)
    """The categories of the last ``pending`` responses, all the same (``Inventory.record``):
    a route serves the same few shapes over and over, and one dict comparison per response
    is ~10x cheaper than adding each count (about 8k instructions on the demo's customer)."""
    pending_entities: dict[str, int] | None = field(default=None, repr=False, compare=False)
    pending: int = field(default=0, repr=False, compare=False)

    @property
    def routed(self) -> bool:
        return self.route is not None

    @property
    def categories(self) -> dict[str, int]:
        """CPRA categories found in the responses served here, and how many."""
        if self.pending:
            self.settle()
        return self.settled_categories

    @property
    def entities(self) -> dict[str, int]:
        """PII entity types found in the responses served here, and how many."""
        if self.pending:
            self.settle()
        return self.settled_entities

    def _fields(self) -> tuple[object, ...]:
        self.settle()
        return (self.method, self.template, self.route, self.first_seen, self.last_seen, self.requests,
                self.denied, self.statuses, self.consumers, self.settled_categories, self.settled_entities,
                self.spi, self.request_categories, self.request_spi, self.recipients, self.latency_ms_sum)

    def __eq__(self, other: object) -> bool:
        """Equal totals (the pending counts added first), as the dataclass compared them."""
        if not isinstance(other, Endpoint):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as before)

    def __repr__(self) -> str:
        self.settle()
        return (f"Endpoint(method={self.method!r}, template={self.template!r}, route={self.route!r}, "
                f"requests={self.requests}, denied={self.denied}, statuses={self.statuses!r}, "
                f"consumers={self.consumers!r}, categories={self.settled_categories!r}, "
                f"entities={self.settled_entities!r}, spi={self.spi}, recipients={self.recipients!r})")

    def settle(self) -> None:
        """Add the pending responses' counts to the totals."""
        n = self.pending
        if not n:
            return
        self.pending = 0
        pc, pe = self.pending_categories, self.pending_entities
        self.pending_categories = self.pending_entities = None
        if pc:
            ec = self.settled_categories
            for c, k in pc.items():
                ec[c] = ec.get(c, 0) + k * n
        if pe:
            ee = self.settled_entities
            for e, k in pe.items():
                ee[e] = ee.get(e, 0) + k * n


def documented_from_routes(routes: Iterable[Any]) -> list[DocumentedOp]:
    """The operations bound to ``routes`` (``RouteInfo`` with ``settings.openapi``)."""
    out = []
    for r in routes:
        b = getattr(getattr(r, "settings", None), "openapi", None)
        op = getattr(b, "resolved", None)
        if op is None:
            continue
        out.append(
            DocumentedOp(
                method=str(op.method),
                template=str(r.template),
                operation_id=op.operation_id,
                deprecated=bool(op.deprecated),
                route=str(r.name),
                location=str(getattr(op, "location", "")),
            )
        )
    return out


class Inventory:
    """The endpoints one gateway process observed (kept across config reloads)."""

    def __init__(
        self, max_endpoints: int = 5_000, max_unrouted: int = 500, max_consumers: int = 100, max_literals: int = 100
    ) -> None:
        self.max_endpoints = max_endpoints
        self.templater = PathTemplater(max_literals)
        """Templates wildcard and unrouted paths (its literal caps live as long as the inventory)."""
        self.max_unrouted = max_unrouted
        self.max_consumers = max_consumers
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self.unrouted = 0
        self.overflow = 0
        """Exchanges not recorded because the endpoint limits were reached."""

    def record(
        self,
        method: str,
        template: str,
        route: str | None,
        status: int,
        consumer: str | None,
        now: float,
        denied: bool = False,
        pii: Any = None,
        latency_ms: float = 0.0,
    ) -> None:
        key = (method, template)
        ep = self.endpoints.get(key)
        if ep is None:
            if len(self.endpoints) >= self.max_endpoints or (route is None and self.unrouted >= self.max_unrouted):
                self.overflow += 1
                return
            ep = self.endpoints[key] = Endpoint(method, template, route, now, now)
            if route is None:
                self.unrouted += 1
        ep.requests += 1
        ep.last_seen = now
        ep.latency_ms_sum += latency_ms
        st = ep.statuses
        st[status] = st.get(status, 0) + 1
        if denied:
            ep.denied += 1
        who = consumer if consumer is not None else ANONYMOUS
        cs = ep.consumers
        n = cs.get(who)
        if n is not None:
            cs[who] = n + 1
        elif len(cs) < self.max_consumers:
            cs[who] = 1
        else:
            cs[OTHER] = cs.get(OTHER, 0) + 1
        if pii is not None:
            # Typed: compiled, a dict's items are then walked natively (no iterator, no
            # tuple per item) and the counts added as ints (cpragate/_accel.py).
            cats: dict[str, int] | None = getattr(pii, "categories", None)
            if cats:
                ents: dict[str, int] | None = getattr(pii, "entities", None)
                if not ents:
                    ents = None
                if ep.pending and cats == ep.pending_categories and ents == ep.pending_entities:
                    ep.pending += 1  # the same counts as the last responses: added when read
                else:
                    ep.settle()
                    ep.pending_categories = dict(cats)
                    ep.pending_entities = dict(ents) if ents is not None else None
                    ep.pending = 1
                ep.spi += int(getattr(pii, "spi", 0) or 0)
                if not denied:
                    rp = ep.recipients
                    n = rp.get(who)
                    if n is not None:
                        rp[who] = n + 1
                    elif len(rp) < self.max_consumers:
                        rp[who] = 1
                    else:
                        rp[OTHER] = rp.get(OTHER, 0) + 1
            # filters/pii's PiiReport carries the request's counts; a plain Annotations has no
            # ``request``, and getattr with a default would raise and clear an AttributeError
            # per exchange (several thousand instructions): asked once per class instead.
            t = type(pii)
            has = _HAS_REQUEST.get(t)
            if has is None:
                has = hasattr(pii, "request")
                if len(_HAS_REQUEST) < 64:
                    _HAS_REQUEST[t] = has
            req = getattr(pii, "request", None) if has else None
            if req is not None:
                rcats: dict[str, int] | None = getattr(req, "categories", None)
                if rcats:
                    rc = ep.request_categories
                    for c, k in rcats.items():
                        rc[c] = rc.get(c, 0) + k
                    ep.request_spi += int(getattr(req, "spi", 0) or 0)

    # --- persistence (the admin listener saves it in state_dir: server/admin.py) ---------------
    STATE_VERSION = 1

    def dump(self) -> dict[str, Any]:
        """Everything recorded, as JSON-ready data (templates and counts only)."""
        return {
            "version": self.STATE_VERSION,
            "overflow": self.overflow,
            "endpoints": [
                {
                    "method": e.method, "template": e.template, "route": e.route,
                    "first_seen": e.first_seen, "last_seen": e.last_seen, "requests": e.requests, "denied": e.denied,
                    "statuses": {str(k): v for k, v in e.statuses.items()}, "consumers": e.consumers,
                    "categories": e.categories, "entities": e.entities, "spi": e.spi,
                    "request_categories": e.request_categories, "request_spi": e.request_spi,
                    "recipients": e.recipients, "latency_ms_sum": e.latency_ms_sum,
                }
                for e in self.endpoints.values()
            ],
        }

    def load(self, data: Any) -> int:
        """Add the endpoints of a :meth:`dump` (within this inventory's bounds); how many were
        loaded. Raises ValueError on data that is not a dump."""
        if not isinstance(data, dict) or data.get("version") != self.STATE_VERSION or not isinstance(data.get("endpoints"), list):
            raise ValueError("not an inventory state of this version")
        n = 0
        for d in data["endpoints"]:
            key = (str(d["method"]), str(d["template"]))
            if key in self.endpoints or len(self.endpoints) >= self.max_endpoints:
                continue
            route = d.get("route")
            ep = Endpoint(key[0], key[1], str(route) if route is not None else None,
                          float(d["first_seen"]), float(d["last_seen"]), int(d["requests"]), int(d["denied"]),
                          {int(k): int(v) for k, v in d["statuses"].items()},
                          {str(k): int(v) for k, v in d["consumers"].items()},
                          {str(k): int(v) for k, v in d["categories"].items()},
                          {str(k): int(v) for k, v in d["entities"].items()}, int(d["spi"]),
                          {str(k): int(v) for k, v in d.get("request_categories", {}).items()}, int(d.get("request_spi", 0)),
                          {str(k): int(v) for k, v in d.get("recipients", {}).items()}, float(d.get("latency_ms_sum", 0.0)))
            self.endpoints[key] = ep
            if ep.route is None:
                self.unrouted += 1
            n += 1
        self.overflow += int(data.get("overflow", 0))
        return n

    # --- reading ------------------------------------------------------------------------
    def snapshot(self, documented: Iterable[DocumentedOp] = ()) -> dict[str, Any]:
        """The inventory as JSON-ready data, each endpoint with its documentation state."""
        docs = list(documented)
        by_key = {(d.method, d.template): d for d in docs}
        used: set[tuple[str, str]] = set()
        rows = []
        for ep in sorted(self.endpoints.values(), key=lambda e: (e.template, e.method)):
            doc = _find_doc(ep, by_key, docs)
            if doc is not None:
                used.add((doc.method, doc.template))
            rows.append(_endpoint_json(ep, doc))
        for d in docs:
            if (d.method, d.template) not in used:
                rows.append(_unused_json(d))
        rows.sort(key=lambda r: (r["template"], r["method"]))
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        return {
            "endpoints": rows,
            "summary": {
                "endpoints": len(rows),
                "observed": len(self.endpoints),
                "documented": sum(1 for r in rows if r["documented"]),
                "shadow": counts.get("shadow", 0),
                "zombie": counts.get("zombie", 0),
                "unused": counts.get("unused", 0),
                "overflow": self.overflow,
            },
        }

    def data_map(self, documented: Iterable[DocumentedOp] = ()) -> dict[str, Any]:
        """The personal-data map: which endpoint serves which CPRA categories, to whom."""
        snap = self.snapshot(documented)
        cats: set[str] = set()
        rows = []
        for r in snap["endpoints"]:
            if not r["categories"] and not r["spi"] and not r["request_categories"]:
                continue
            cats.update(r["categories"])
            cats.update(r["request_categories"])
            rows.append(
                {
                    "method": r["method"],
                    "template": r["template"],
                    "route": r["route"],
                    "state": r["state"],
                    "categories": r["categories"],
                    "entities": r["entities"],
                    "spi": r["spi"],
                    "request_categories": r["request_categories"],
                    "request_spi": r["request_spi"],
                    "recipients": r["recipients"],
                }
            )
        return {"categories": sorted(cats), "endpoints": rows}


def _find_doc(ep: Endpoint, by_key: dict[tuple[str, str], DocumentedOp], docs: list[DocumentedOp]) -> DocumentedOp | None:
    method = "GET" if ep.method == "HEAD" else ep.method
    d = by_key.get((method, ep.template)) or by_key.get((ep.method, ep.template))
    if d is not None:
        return d
    for d in docs:
        if d.method in (method, "*") and same_shape(ep.template, d.template):
            return d
    return None


def _state(doc: DocumentedOp | None) -> str:
    if doc is None:
        return "shadow"
    return "zombie" if doc.deprecated else "documented"


def _endpoint_json(ep: Endpoint, doc: DocumentedOp | None) -> dict[str, Any]:
    classes: dict[str, int] = {}
    for s, n in ep.statuses.items():
        k = f"{s // 100}xx" if s else "none"
        classes[k] = classes.get(k, 0) + n
    return {
        "method": ep.method,
        "template": ep.template,
        "route": ep.route,
        "routed": ep.routed,
        "state": _state(doc),
        "documented": doc is not None,
        "deprecated": bool(doc and doc.deprecated),
        "operation_id": doc.operation_id if doc else None,
        "requests": ep.requests,
        "denied": ep.denied,
        "statuses": {str(k): v for k, v in sorted(ep.statuses.items())},
        "status_classes": dict(sorted(classes.items())),
        "consumers": [{"name": c, "requests": n} for c, n in sorted(ep.consumers.items(), key=lambda x: (-x[1], x[0]))],
        "categories": dict(sorted(ep.categories.items())),
        "entities": dict(sorted(ep.entities.items())),
        "spi": ep.spi,
        "request_categories": dict(sorted(ep.request_categories.items())),
        "request_spi": ep.request_spi,
        "recipients": [{"name": c, "responses": n} for c, n in sorted(ep.recipients.items(), key=lambda x: (-x[1], x[0]))],
        "mean_latency_ms": round(ep.latency_ms_sum / ep.requests, 3) if ep.requests else None,
        "first_seen": ep.first_seen,
        "last_seen": ep.last_seen,
    }


def _unused_json(d: DocumentedOp) -> dict[str, Any]:
    return {
        "method": d.method,
        "template": d.template,
        "route": d.route,
        "routed": True,
        "state": "unused",
        "documented": True,
        "deprecated": d.deprecated,
        "operation_id": d.operation_id,
        "requests": 0,
        "denied": 0,
        "statuses": {},
        "status_classes": {},
        "consumers": [],
        "categories": {},
        "entities": {},
        "spi": 0,
        "request_categories": {},
        "request_spi": 0,
        "recipients": [],
        "mean_latency_ms": None,
        "first_seen": None,
        "last_seen": None,
    }


# --- exports ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "method", "template", "state", "route", "operation_id", "requests", "denied", "status_classes",
    "consumers", "pi_categories", "spi", "request_pi_categories", "request_spi", "first_seen", "last_seen",
)


def _iso(t: float | None) -> str:
    if t is None:
        return ""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(v: str) -> str:
    # Spreadsheet formula injection: a cell that starts with = + - @ is read as a formula.
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def to_csv(snapshot: dict[str, Any]) -> str:
    """The inventory as CSV (one row per endpoint; lists joined with ``;``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in snapshot["endpoints"]:
        w.writerow(
            [
                _cell(str(x))
                for x in (
                    r["method"],
                    r["template"],
                    r["state"],
                    r["route"] or "",
                    r["operation_id"] or "",
                    r["requests"],
                    r["denied"],
                    ";".join(f"{k}:{v}" for k, v in r["status_classes"].items()),
                    ";".join(f"{c['name']}:{c['requests']}" for c in r["consumers"]),
                    ";".join(f"{k}:{v}" for k, v in r["categories"].items()),
                    r["spi"],
                    ";".join(f"{k}:{v}" for k, v in r["request_categories"].items()),
                    r["request_spi"],
                    _iso(r["first_seen"]),
                    _iso(r["last_seen"]),
                )
            ]
        )
    return buf.getvalue()


_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": "^[A-Za-z0-9_+-]+$"},
    "uuid": {"type": "string", "format": "uuid"},
    "email": {"type": "string", "format": "email"},
    "date": {"type": "string", "format": "date"},
    "hash": {"type": "string", "pattern": "^[0-9a-fA-F]+$"},
    "token": {"type": "string"},
    "param": {"type": "string"},
}


def _params(template: str) -> list[dict[str, Any]]:
    out = []
    for seg in template.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            out.append({"name": name, "in": "path", "required": True, "schema": dict(_SCHEMAS[param_kind(name)])})
    return out


def to_openapi(snapshot: dict[str, Any], title: str = "Observed API inventory", version: str = "observed") -> dict[str, Any]:
    """An OpenAPI 3.1 skeleton of the observed endpoints (unused ones left out): paths,
    methods, path parameters and the response codes seen; what was observed in
    ``x-cpragate`` (consumers, CPRA categories, state)."""
    paths: dict[str, dict[str, Any]] = {}
    for r in snapshot["endpoints"]:
        if r["state"] == "unused" or r["method"] == "HEAD" or "**" in r["template"]:
            continue
        op: dict[str, Any] = {}
        if r["operation_id"]:
            op["operationId"] = r["operation_id"]
        op["summary"] = f"{r['method']} {r['template']} (observed {r['requests']} times)"
        params = _params(r["template"])
        if params:
            op["parameters"] = params
        if r["deprecated"]:
            op["deprecated"] = True
        op["responses"] = {
            k: {"description": f"observed {v} times"} for k, v in r["statuses"].items() if k != "0"
        } or {"default": {"description": "no response observed"}}
        op["x-cpragate"] = {
            "state": r["state"],
            "consumers": [c["name"] for c in r["consumers"]],
            "pi_recipients": [c["name"] for c in r["recipients"]],
            "pi_categories": sorted(r["categories"]),
            "spi_findings": r["spi"],
            "request_pi_categories": sorted(r["request_categories"]),
            "first_seen": _iso(r["first_seen"]),
            "last_seen": _iso(r["last_seen"]),
        }
        method = r["method"].lower() if r["method"] != "*" else "get"
        paths.setdefault(r["template"], {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": "Generated by cpragate from observed traffic."},
        "paths": dict(sorted(paths.items())),
    }
