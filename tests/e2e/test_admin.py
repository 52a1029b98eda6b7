"""The admin listener over real sockets, in front of the demo: auth and roles, inventory with
its personal-data map and exports, /metrics, alerts, blocks, audit search, DSAR, headers."""

from __future__ import annotations

import asyncio
import http.client
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from cpragate.demo.certs import DevPki
from cpragate.storage.alerts import Block

from .demo_world import ADMIN_KEY, DemoWorld

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    w = DemoWorld(tmp_path_factory.mktemp("admin-demo")).start()
    try:
        statuses = w.traffic()
        assert statuses["/v1/customers/42 cpg_dgf2lgz3"] == 200 and statuses["/v1/admin anon"] == 404
        yield w
    finally:
        w.stop()


def test_auth_and_headers(world: DemoWorld) -> None:
    status, headers, body = world.admin("/api/overview", key=None)
    assert status == 401 and orjson.loads(body)["code"] == "CPG-ADM-003"
    status, headers, _ = world.admin("/")
    assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    status, headers, body = world.admin("/static/vendor/chart.umd.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and len(body) > 10_000
    assert world.admin("/static/../pyproject.toml")[0] in (400, 404)
    assert world.admin_json("/api/whoami") == {"name": "privacy-officer", "role": "admin"}


def test_inventory_datamap_and_exports(world: DemoWorld) -> None:
    inv = world.admin_json("/api/inventory")
    by = {(e["method"], e["template"]): e for e in inv["endpoints"]}
    cust = by[("GET", "/v1/customers/{id}")]
    assert cust["state"] == "documented" and cust["operation_id"] == "getCustomer"
    assert {c["name"] for c in cust["consumers"]} >= {"support-app", "marketing-partner", "(anonymous)"}
    assert "identifiers" in cust["categories"] and cust["spi"] > 0
    assert cust["status_classes"]["2xx"] >= 1 and cust["status_classes"]["4xx"] >= 1
    assert by[("GET", "/v1/admin")]["state"] == "shadow" and not by[("GET", "/v1/admin")]["routed"]
    assert by[("GET", "/v1/users/{email}/export")]["state"] == "shadow"  # the e-mail never stored
    assert by[("GET", "/health")]["state"] == "documented"  # a passthrough route is observed too
    assert b"alice@example.com" not in world.admin("/api/inventory")[2]
    dm = world.admin_json("/api/datamap")
    assert "identifiers" in dm["categories"]
    row = next(e for e in dm["endpoints"] if e["template"] == "/v1/customers/{id}")
    # recipients are those served personal data, not the partner and the anonymous caller that were refused
    assert [r["name"] for r in row["recipients"]] == ["support-app"]
    tickets = next(e for e in dm["endpoints"] if e["template"] == "/v1/tickets")
    assert "identifiers" in tickets["request_categories"]  # the e-mail address a client sent
    consumers = {c["name"]: c for c in world.admin_json("/api/consumers")}
    assert consumers["marketing-partner"]["traffic"]["requests"] >= 2
    assert consumers["marketing-partner"]["traffic"]["categories"] == []
    assert "geolocation" in consumers["support-app"]["traffic"]["categories"]
    status, headers, csv = world.admin("/api/inventory?format=csv")
    assert status == 200 and headers["content-type"].startswith("text/csv") and b"/v1/customers/{id},documented" in csv
    oas = world.admin_json("/api/inventory?format=openapi")
    assert oas["paths"]["/v1/customers/{id}"]["get"]["operationId"] == "getCustomer"


def test_cli_export_reads_the_admin_api(world: DemoWorld, tmp_path: Path) -> None:
    out = tmp_path / "inv.csv"
    r = subprocess.run(
        [sys.executable, "-m", "cpragate", "inventory", "export", "--url", world.admin_url, "--format", "csv", "--out", str(out)],
        env={**os.environ, "CPRAGATE_ADMIN_KEY": ADMIN_KEY}, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "/v1/customers/{id},documented" in out.read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "cpragate", "inventory", "export", "--url", world.admin_url],
        env={**os.environ, "CPRAGATE_ADMIN_KEY": "wrong-key-0123456789abcdefgh"}, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "refused the key" in bad.stderr and "wrong-key" not in bad.stderr


def test_metrics_open_on_loopback(world: DemoWorld) -> None:
    status, headers, body = world.admin("/metrics", key=None)
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'cpragate_requests_total{route="getCustomer",method="GET",status="200"}' in text
    assert 'cpragate_denials_total{code="CPG-ROUTE-001",filter="gateway"}' in text
    assert 'cpragate_pi_served_total{category="identifiers"}' in text
    assert "cpragate_request_duration_seconds_bucket{" in text and 'cpragate_audit_spool{measure="bytes"}' in text
    assert 'cpragate_inventory_endpoints{state="shadow"}' in text


def test_alert_ack_and_block_lift(world: DemoWorld) -> None:
    world.add_alert("alert-admin-1")
    assert world.admin("/api/alerts/alert-admin-1/ack", method="POST")[0] == 200
    acked = [a for a in world.admin_json("/api/alerts") if a["id"] == "alert-admin-1"]
    assert acked[0]["acknowledged_by"] == "privacy-officer"
    assert world.gw is not None and world.gw.stores is not None and world.gw.stores.blocks is not None
    world.call(world.gw.stores.blocks.put(Block("ip", "198.51.100.7", "block", "scraping", time.time(), time.time() + 600)))
    assert [b["subject"] for b in world.admin_json("/api/blocks")] == ["198.51.100.7"]
    assert world.admin("/api/blocks/ip/198.51.100.7", method="DELETE")[0] == 200
    assert world.admin_json("/api/blocks") == []
    text = world.admin("/metrics", key=None)[2].decode()
    assert 'cpragate_alerts{detector="enumeration",severity="high",acknowledged="yes"}' in text


def test_audit_search_and_dsar(world: DemoWorld) -> None:
    assert world.wait_audited(8) >= 8
    found = world.admin_json("/api/audit?consumer=support-app&limit=100")
    assert found["count"] >= 4 and all(e["consumer"] == "support-app" for e in found["events"])
    denied = world.admin_json("/api/audit?decision=deny")["events"]
    assert any(e.get("error") == "CPG-ROUTE-001" for e in denied)
    by_subject = world.admin_json("/api/audit?subject=42")
    subjects = {s for e in by_subject["events"] for s in e.get("subjects") or []}
    assert by_subject["count"] >= 1 and subjects and all(s.startswith("s_") and s != "42" for s in subjects)  # pseudonyms only
    rep = world.admin_json("/api/dsar?subject=42")
    assert rep["subject"] == "42" and rep["disclosures"] >= 1
    assert any(r["consumer"] == "support-app" for r in rep["recipients"])
    assert world.admin("/api/audit?decision=maybe")[0] == 400


def test_admin_over_tls_with_a_read_only_key(pki: DevPki, tmp_path: Path) -> None:
    """A plain gateway (memory storage, no audit) whose admin listener serves HTTPS."""
    from cpragate.server.origin import OriginRequest, OriginResponse

    from .conftest import gateway, origin, plain_config, run

    key = "reader-key-0123456789abcdefghij"

    def ok(req: OriginRequest) -> OriginResponse:
        return OriginResponse(200, [(b"content-type", b"application/json")], b"{}")

    async def go() -> None:
        async with origin(ok) as o:
            admin = (f'admin: {{bind: "127.0.0.1:0", tls: {{cert_file: "{pki.path("gateway.pem")}", '
                     f'key_file: "{pki.path("gateway-key.pem")}"}}, metrics_auth: key, '
                     f'keys: [{{name: dpo, role: read_only, key: "${{ADMIN_KEY}}"}}]}}')
            async with gateway(plain_config(o.port, extra=admin), ADMIN_KEY=key) as gw:
                assert gw.admin is not None and gw.admin.url.startswith("https://")
                port = gw.bound_ports()[0]
                await asyncio.to_thread(_get, port, "/anything/550e8400-e29b-41d4-a716-446655440000")
                ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))

                def admin_get(path: str, method: str = "GET", k: str | None = key) -> tuple[int, dict[str, str], bytes]:
                    c = http.client.HTTPSConnection("localhost", gw.admin.port, context=ctx, timeout=10)  # type: ignore[union-attr]
                    try:
                        c.request(method, path, headers={"Authorization": f"Bearer {k}"} if k else {})
                        r = c.getresponse()
                        return r.status, {n.lower(): v for n, v in r.getheaders()}, r.read()
                    finally:
                        c.close()

                status, headers, body = await asyncio.to_thread(admin_get, "/api/inventory")
                assert status == 200 and "max-age" in headers["strict-transport-security"]
                eps = orjson.loads(body)["endpoints"]
                assert [(e["template"], e["state"]) for e in eps] == [("/anything/{uuid}", "shadow")]  # wildcard route, templated
                assert (await asyncio.to_thread(admin_get, "/api/alerts/x/ack", "POST"))[0] == 403  # read_only
                assert (await asyncio.to_thread(admin_get, "/metrics", "GET", None))[0] == 401  # metrics_auth: key
                assert (await asyncio.to_thread(admin_get, "/metrics"))[0] == 200

    run(go())


def _get(port: int, path: str) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def test_inventory_survives_a_restart(tmp_path: Path) -> None:
    first = DemoWorld(tmp_path).start()
    try:
        assert first.get("/v1/customers/42") == 200
        assert first.get("/v1/secret-admin", key=None) == 404
    finally:
        first.stop()
    assert (tmp_path / "inventory.json").exists()
    second = DemoWorld(tmp_path).start()
    try:
        eps = {(e["method"], e["template"]): e for e in second.admin_json("/api/inventory")["endpoints"]}
        assert eps[("GET", "/v1/customers/{id}")]["requests"] == 1
        assert eps[("GET", "/v1/secret-admin")]["state"] == "shadow"
        assert second.get("/v1/customers/42") == 200
        eps = {(e["method"], e["template"]): e for e in second.admin_json("/api/inventory")["endpoints"]}
        assert eps[("GET", "/v1/customers/{id}")]["requests"] == 2
    finally:
        second.stop()
