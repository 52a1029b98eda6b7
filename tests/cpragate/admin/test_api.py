"""The admin API handlers, sans-IO: auth and roles, every endpoint, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from cpragate.admin.api import AdminApi, AdminResponse, Sources, parse_since
from cpragate.admin.auth import AdminAuth
from cpragate.admin.config import AdminKey
from cpragate.admin.metrics import Metrics
from cpragate.core.access import Consumer
from cpragate.core.clock import FakeClock
from cpragate.filters.inventory.model import DocumentedOp, Inventory
from cpragate.storage.access import ApiKeyRecord, MemoryIdentityStore
from cpragate.storage.alerts import Alert, Block, MemoryAlerts, MemoryBlocks

ADMIN = "admin-key-0123456789abcdefghij"
READER = "reader-key-0123456789abcdefghij"
METRICS = "metrics-key-0123456789abcdefgh"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        now = self.clock.time()
        self.alerts = MemoryAlerts()
        self.blocks = MemoryBlocks()
        self.identity = MemoryIdentityStore()
        self.inventory = Inventory()
        self.metrics = Metrics()
        self.searches: list[dict[str, Any]] = []
        asyncio.run(self._fill(now))

    async def _fill(self, now: float) -> None:
        await self.alerts.add(Alert("a1", "enumeration", "high", "consumer", "partner", "walked 500 ids", now - 30,
                                    {"distinct_ids": 500}))
        await self.blocks.put(Block("consumer", "partner", "block", "enumeration", now - 20, now + 10**9, "a1"))  # MemoryBlocks.lift reads the real clock
        await self.identity.put_consumer(Consumer("store-app", "service_provider", frozenset({"orders:read"})))
        await self.identity.put_key(ApiKeyRecord("cpg_abcdefgh", "f" * 64, "store-app", created=now - 100))
        self.inventory.record("GET", "/v1/customers/{id}", "getCustomer", 200, "store-app", now - 10)
        self.metrics.requests.inc(("getCustomer", "GET", "200"), 5)
        self.metrics.requests.inc(("(unrouted)", "GET", "404"), 2)
        self.metrics.denials.inc(("CPG-ROUTE-001", "gateway"), 2)
        self.metrics.timeline.add(now - 5, False)

    def api(self, with_audit: bool = True) -> AdminApi:
        async def search(q: dict[str, Any]) -> list[dict[str, Any]]:
            self.searches.append(q)
            return [{"seq": 1, "consumer": q["consumer"], "decision": "allow"}]

        async def dsar(subject: str, since: float) -> dict[str, Any]:
            return {"subject": subject, "since": since}

        src = Sources(
            metrics=lambda: self.metrics,
            inventory=lambda: self.inventory,
            documented=lambda: [DocumentedOp("GET", "/v1/customers/{id}", "getCustomer", False, "getCustomer"),
                                DocumentedOp("GET", "/v1/old", "getOld", True, "getOld")],
            alerts=lambda: self.alerts,
            blocks=lambda: self.blocks,
            identity=lambda: self.identity,
            config_keys=lambda: [("support-app", "cpg_zzzzzzzz", None)],
            audit_search=search if with_audit else None,
            dsar=dsar if with_audit else None,
        )
        keys = [AdminKey.model_validate({"name": "ops", "role": "admin", "key": ADMIN}),
                AdminKey.model_validate({"name": "dpo", "role": "read_only", "key": READER}),
                AdminKey.model_validate({"name": "prom", "role": "metrics", "key": METRICS})]
        return AdminApi(AdminAuth(keys, clock=self.clock), src, max_rows=500, clock=self.clock)


def call(api: AdminApi, method: str, path: str, key: str | None = READER, query: bytes = b"") -> AdminResponse:
    headers = {b"authorization": b"Bearer " + key.encode()} if key else {}
    return asyncio.run(api.handle(method, path, query, headers, "127.0.0.1"))


def body(r: AdminResponse) -> Any:
    return orjson.loads(r.body)


@pytest.fixture
def w() -> World:
    return World()


def test_auth_required_and_roles(w: World) -> None:
    api = w.api()
    r = call(api, "GET", "/api/overview", key=None)
    assert r.status == 401 and body(r)["code"] == "CPG-ADM-003"
    assert call(api, "GET", "/api/overview", key="wrong-key-0123456789abcdef").status == 401
    assert call(api, "GET", "/api/overview", key=METRICS).status == 403
    assert body(call(api, "GET", "/api/whoami")) == {"name": "dpo", "role": "read_only"}
    assert call(api, "POST", "/api/alerts/a1/ack").status == 403  # read_only cannot change
    assert call(api, "DELETE", "/api/blocks/consumer/partner").status == 403
    assert call(api, "GET", "/metrics", key=None).status == 401
    assert call(api, "GET", "/metrics", key=METRICS).status == 200


def test_overview(w: World) -> None:
    o = body(call(w.api(), "GET", "/api/overview"))
    assert (o["requests"], o["denials"], o["denials_by_reason"]) == (7, 2, {"CPG-ROUTE-001": 2})
    assert o["alerts"] == {"open": 1, "total": 1, "by_severity": {"high": 1}} and o["blocks"] == 1
    assert o["inventory"]["unused"] == 1 and o["routes"][0] == {"route": "getCustomer", "requests": 5, "errors": 0}
    pts = o["timeline"]["points"]
    assert len(pts) == 360 and sum(p["requests"] for p in pts) == 1 and sum(p["alerts"] for p in pts) == 1


def test_inventory_formats(w: World) -> None:
    api = w.api()
    inv = body(call(api, "GET", "/api/inventory"))
    assert [(e["template"], e["state"]) for e in inv["endpoints"]] == [("/v1/customers/{id}", "documented"), ("/v1/old", "unused")]
    csv = call(api, "GET", "/api/inventory", query=b"format=csv")
    assert csv.status == 200 and csv.body.startswith(b"method,template,state") and (b"content-type", b"text/csv; charset=utf-8") in csv.headers
    oas = body(call(api, "GET", "/api/inventory", query=b"format=openapi"))
    assert list(oas["paths"]) == ["/v1/customers/{id}"]
    assert call(api, "GET", "/api/inventory", query=b"format=xml").status == 400
    assert body(call(api, "GET", "/api/datamap")) == {"categories": [], "endpoints": []}


def test_consumers_show_prefixes_never_hashes(w: World) -> None:
    r = call(w.api(), "GET", "/api/consumers")
    assert b"f" * 64 not in r.body
    cs = {c["name"]: c for c in body(r)}
    assert cs["store-app"]["keys"] == [{"prefix": "cpg_abcdefgh", "state": "active", "created": w.clock.time() - 100,
                                        "expires": None, "source": "store"}]
    assert cs["store-app"]["traffic"]["requests"] == 1 and cs["support-app"]["keys"][0]["prefix"] == "cpg_zzzzzzzz"


def test_alerts_ack_and_blocks_lift(w: World) -> None:
    api = w.api()
    assert [a["id"] for a in body(call(api, "GET", "/api/alerts", query=b"unacknowledged=1"))] == ["a1"]
    r = call(api, "POST", "/api/alerts/a1/ack", key=ADMIN)
    assert r.status == 200 and body(r)["acknowledged_by"] == "ops"
    assert body(call(api, "GET", "/api/alerts", query=b"unacknowledged=1")) == []
    assert call(api, "POST", "/api/alerts/nope/ack", key=ADMIN).status == 404
    assert [b["subject"] for b in body(call(api, "GET", "/api/blocks"))] == ["partner"]
    r = call(api, "DELETE", "/api/blocks/consumer/partner", key=ADMIN)
    assert body(r) == {"lifted": True, "subject_kind": "consumer", "subject": "partner", "lifted_by": "ops"}
    assert body(call(api, "GET", "/api/blocks")) == []
    assert call(api, "DELETE", "/api/blocks/consumer/partner", key=ADMIN).status == 404
    assert call(api, "DELETE", "/api/blocks/tenant/x", key=ADMIN).status == 400


def test_audit_and_dsar_parameters(w: World) -> None:
    api = w.api()
    r = body(call(api, "GET", "/api/audit", query=b"consumer=store-app&since=24h&decision=deny&limit=5"))
    assert r["count"] == 1 and w.searches[-1]["since"] == w.clock.time() - 86400 and w.searches[-1]["limit"] == 5
    for bad in (b"decision=maybe", b"limit=0", b"limit=99999", b"since=yesterday", b"outcome=x"):
        assert call(api, "GET", "/api/audit", query=bad).status == 400, bad
    assert body(call(api, "GET", "/api/dsar", query=b"subject=42"))["subject"] == "42"
    assert call(api, "GET", "/api/dsar").status == 400
    off = w.api(with_audit=False)
    assert call(off, "GET", "/api/audit").status == 404 and call(off, "GET", "/api/dsar", query=b"subject=1").status == 404


def test_unknown_paths_and_methods(w: World) -> None:
    api = w.api()
    assert call(api, "GET", "/api/nothing").status == 404
    assert call(api, "PUT", "/api/alerts", key=ADMIN).status == 405
    assert call(api, "GET", "/elsewhere").status == 404
    assert call(api, "POST", "/metrics", key=METRICS).status == 405


def test_lock_out_answers_429(w: World) -> None:
    api = w.api()
    for _ in range(20):
        call(api, "GET", "/api/whoami", key="wrong-key-0123456789abcdef")
    assert call(api, "GET", "/api/whoami").status == 429  # even the right key, until the window passes


def test_metrics_open_on_loopback(w: World) -> None:
    api = w.api()
    api.metrics_open = True

    def scrape(host: bytes | None) -> AdminResponse:
        return asyncio.run(api.handle("GET", "/metrics", b"", {b"host": host} if host else {}, "127.0.0.1"))

    r = scrape(b"127.0.0.1:9901")
    assert r.status == 200 and b'cpragate_requests_total{route="getCustomer",method="GET",status="200"} 5' in r.body
    assert scrape(b"localhost:9901").status == 200 and scrape(b"[::1]:9901").status == 200
    # DNS rebinding: a page of another site reaching 127.0.0.1 under its own name needs a key
    assert scrape(b"evil.example:9901").status == 401 and scrape(None).status == 401


@pytest.mark.parametrize(("text", "ago"), [("24h", 86400), ("30d", 30 * 86400), ("90s", 90)])
def test_parse_since(text: str, ago: float) -> None:
    assert parse_since(text, 1000_000.0) == 1000_000.0 - ago
    assert parse_since("2026-01-01", 0) == 1767225600.0
    with pytest.raises(ValueError):
        parse_since("soon", 0)
