"""The demo API: a plain JSON API over the demo records, with no security of its own.

It behaves like many real internal APIs: no authentication, ids in paths, list
endpoints, internal fields in responses (``password_hash``, ``internal_risk_score``).
The gateway in front of it is what makes it fit to serve.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from cpragate.demo.data import DemoData, generate
from cpragate.server.origin import OriginRequest, OriginResponse

__all__ = ["DemoApi"]

_JSON = [(b"content-type", b"application/json"), (b"server", b"demo-api/1.0 (Python)"), (b"x-powered-by", b"hand-rolled")]


def _resp(status: int, body: Any) -> OriginResponse:
    return OriginResponse(status, list(_JSON), orjson.dumps(body))


def _not_found() -> OriginResponse:
    return _resp(404, {"error": "not found"})


class DemoApi:
    """Callable origin handler over :class:`DemoData`."""

    def __init__(self, data: DemoData | None = None) -> None:
        self.data = data or generate()
        self.customers = {c["id"]: c for c in self.data.customers}
        self.orders = {o["id"]: o for o in self.data.orders}
        self.tickets = {t["id"]: t for t in self.data.tickets}
        self.next_ticket = max(self.tickets) + 1 if self.tickets else 50_001

    def __call__(self, req: OriginRequest) -> OriginResponse:
        r = req.request
        parts = [p for p in r.path.split("/") if p]
        try:
            return self._route(r.method, parts, r.query, r.body or b"")
        except (ValueError, KeyError):
            return _resp(400, {"error": "bad request"})

    def _route(self, method: str, parts: list[str], query: bytes, body: bytes) -> OriginResponse:
        if parts == ["health"]:
            return _resp(200, {"status": "ok", "records": self.data.record_count})
        if len(parts) < 2 or parts[0] != "v1":
            return _not_found()
        kind, rest = parts[1], parts[2:]
        if kind == "customers":
            if not rest and method in ("GET", "HEAD"):
                q = parse_qs(query.decode("ascii", "replace"))
                limit = min(int(q.get("limit", ["20"])[0]), 100)
                offset = int(q.get("offset", ["0"])[0])
                items = self.data.customers[offset : offset + limit]
                return _resp(200, {"items": items, "total": len(self.customers), "limit": limit, "offset": offset})
            if len(rest) == 1 and method in ("GET", "HEAD"):
                c = self.customers.get(int(rest[0]))
                return _resp(200, c) if c else _not_found()
            if len(rest) == 2 and rest[1] == "orders" and method in ("GET", "HEAD"):
                cid = int(rest[0])
                if cid not in self.customers:
                    return _not_found()
                return _resp(200, {"items": [o for o in self.data.orders if o["customer_id"] == cid]})
        if kind == "orders" and len(rest) == 1 and method in ("GET", "HEAD"):
            o = self.orders.get(int(rest[0]))
            return _resp(200, o) if o else _not_found()
        if kind == "tickets":
            if len(rest) == 1 and method in ("GET", "HEAD"):
                t = self.tickets.get(int(rest[0]))
                return _resp(200, t) if t else _not_found()
            if not rest and method == "POST":
                doc = orjson.loads(body)
                if not isinstance(doc, dict) or "customer_id" not in doc or "body" not in doc:
                    return _resp(422, {"error": "customer_id and body are required"})
                t = {
                    "id": self.next_ticket,
                    "customer_id": int(doc["customer_id"]),
                    "subject": str(doc.get("subject", "")),
                    "body": str(doc["body"]),
                    "status": "open",
                }
                self.next_ticket += 1
                self.tickets[t["id"]] = t
                return _resp(201, t)
        return _not_found()
