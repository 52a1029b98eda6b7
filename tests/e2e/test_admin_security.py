"""The admin listener is loopback by default and every admin endpoint is authenticated:
no key, a wrong key, a key of a weaker role, and spellings of admin paths that try to
slip around the check are refused over a real socket."""

from __future__ import annotations

import orjson
import pytest

from cpragate.admin.config import AdminConfig, AdminKey
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e

ADMIN = "admin-key-for-tests-0123456789abcdef"
READER = "reader-key-for-tests-0123456789abcdef"
METRICS = "metrics-key-for-tests-0123456789abcd"
DESK = "desk-key-for-tests-0123456789abcdefg"

READS = ["/api/whoami", "/api/overview", "/api/inventory", "/api/datamap", "/api/consumers", "/api/alerts",
         "/api/blocks", "/api/audit", "/api/dsar?subject=42"]
WRITES = [("POST", "/api/alerts/a1/ack"), ("DELETE", "/api/blocks/consumer/x"), ("POST", "/api/detokenize")]


def ok(req: OriginRequest) -> OriginResponse:
    return OriginResponse(200, [], b"ok")


def test_defaults_are_loopback_and_a_remote_plain_listener_is_refused() -> None:
    key = AdminKey(name="a", role="admin", key=ADMIN)  # type: ignore[arg-type]
    assert AdminConfig(keys=[key]).bind.startswith("127.0.0.1:")
    with pytest.raises(ValueError, match="loopback"):
        AdminConfig(keys=[key], bind="0.0.0.0:9901")
    with pytest.raises(ValueError):
        AdminConfig(keys=[])  # never an unauthenticated admin listener
    with pytest.raises(ValueError, match="24 characters"):
        AdminKey(name="a", role="admin", key="short")  # type: ignore[arg-type]


def test_every_admin_endpoint_needs_a_key_with_the_right_role() -> None:
    extra = """
admin:
  bind: "127.0.0.1:0"
  metrics_auth: key
  keys:
    - {name: ops, role: admin, key: "${CPG_T_ADMIN}"}
    - {name: viewer, role: read_only, key: "${CPG_T_READER}"}
    - {name: prom, role: metrics, key: "${CPG_T_METRICS}"}
"""

    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port, extra=extra), CPG_T_ADMIN=ADMIN, CPG_T_READER=READER, CPG_T_METRICS=METRICS) as gw:
            assert gw.admin is not None
            host, port = gw.admin.url.split("//")[1].rstrip("/").rsplit(":", 1)
            assert host == "127.0.0.1"
            c = await Client.open(int(port))

            async def call(method: str, path: str, key: str | None = None) -> int:
                nonlocal c
                headers = {"authorization": f"Bearer {key}"} if key else {}
                r = await c.request(method, path, headers)
                if r.h("connection") == b"close":
                    await c.close()
                    c = await Client.open(int(port))
                return r.status

            for path in READS:
                assert await call("GET", path) == 401, path
                assert await call("GET", path, "wrong-key-0123456789abcdefghijkl") == 401, path
                assert await call("GET", path, METRICS) == 403, path
                # past the check (404: this gateway has no audit trail to search)
                assert await call("GET", path, READER) in (200, 404), path
                assert await call("GET", path, ADMIN) in (200, 404), path
            assert await call("GET", "/api/whoami", READER) == 200
            for method, path in WRITES:
                assert await call(method, path) == 401, path
                assert await call(method, path, READER) == 403, path  # read_only changes nothing
                assert await call(method, path, METRICS) == 403, path
            assert await call("POST", "/api/detokenize", ADMIN) == 403  # only the detokenize role may
            assert await call("GET", "/metrics") == 401
            assert await call("GET", "/metrics", METRICS) == 200
            # spellings that must not reach an endpoint without the check
            for path in ["/api/../api/whoami", "/API/whoami", "/api//whoami", "/api/whoami;x", "/api/%77hoami", "/./api/whoami"]:
                assert await call("GET", path) in (400, 401, 404), path
            # the key is sent only in the Authorization header: never in the query string
            assert await call("GET", f"/api/whoami?key={ADMIN}") == 401

    run(t())



def test_with_the_audit_trail_on_a_detokenize_key_opens_nothing_else_and_other_roles_not_detokenize() -> None:
    """The variant the test above cannot show: audit on and a key of every role, detokenize included."""
    extra = """
filters:
  audit: {enabled: true, instance_id: e2e-sec}
  pii:
    engine:
      tokenize: {key: "${CPG_T_TOKKEY}", reversible: true}
admin:
  bind: "127.0.0.1:0"
  metrics_auth: key
  detokenize: {max_audited_refusals: 1000}
  keys:
    - {name: ops, role: admin, key: "${CPG_T_ADMIN}"}
    - {name: viewer, role: read_only, key: "${CPG_T_READER}"}
    - {name: prom, role: metrics, key: "${CPG_T_METRICS}"}
    - {name: desk, role: detokenize, key: "${CPG_T_DESK}"}
"""
    env = {"CPG_T_ADMIN": ADMIN, "CPG_T_READER": READER, "CPG_T_METRICS": METRICS, "CPG_T_DESK": DESK,
           "CPG_T_TOKKEY": "token-secret-for-tests-0123456789"}

    async def t() -> None:
        async with origin(ok) as o, gateway(plain_config(o.port, extra=extra), **env, with_stores=True) as gw:
            assert gw.admin is not None
            port = int(gw.admin.url.rstrip("/").rsplit(":", 1)[1])
            c = await Client.open(port)

            async def call(method: str, path: str, key: str | None = None,
                           body: bytes = b"") -> tuple[int, dict[str, object]]:
                nonlocal c
                headers = {"authorization": f"Bearer {key}"} if key else {}
                if body:
                    headers["content-type"] = "application/json"
                r = await c.request(method, path, headers, body)
                if r.h("connection") == b"close":
                    await c.close()
                    c = await Client.open(port)
                ctype = r.h("content-type") or b""
                return r.status, (orjson.loads(r.body) if ctype.endswith(b"json") and r.body[:1] == b"{" else {})

            # the detokenize key reaches nothing but POST /api/detokenize
            for path in READS:
                status, doc = await call("GET", path, DESK)
                assert status == 403 and doc.get("code") == "CPG-ADM-003", path
            for method, path in WRITES[:2]:
                assert (await call(method, path, DESK))[0] == 403, path
            assert (await call("GET", "/metrics", DESK))[0] == 403
            assert (await call("GET", "/metrics", METRICS))[0] == 200
            # and every other role is refused detokenize, with the same words as without a trail
            body = orjson.dumps({"tokens": ["tok_email_rAAAA"], "reason": "ticket 4711 for the DPO desk"})
            for key, role in ((ADMIN, "admin"), (READER, "read_only"), (METRICS, "metrics")):
                status, doc = await call("POST", "/api/detokenize", key, body)
                assert status == 403 and doc["detail"] == (
                    f"the {role} role may not detokenize; only a key of role detokenize may (admin.keys)"), role
            status, doc = await call("POST", "/api/detokenize", "wrong-key-0123456789abcdefghijkl", body)
            assert status == 401 and doc["detail"] == "send Authorization: Bearer ADMIN_KEY with a key of role detokenize"
            status, doc = await call("POST", "/api/detokenize", DESK, body)
            assert status == 200 and doc["results"][0]["error"] == "CPG-PII-005"  # type: ignore[index]
            await c.close()

    run(t())
