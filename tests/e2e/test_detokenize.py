"""Detokenize over real sockets (issue 5): the gateway hands out reversible tokens, a key of
the detokenize role gets the values back through the admin API, other roles get 403, and
every call is an event in the gateway's own audit trail. Values are synthetic; assertions
never print bodies or values."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e

ADMIN = "admin-key-for-tests-0123456789abcdef"
DESK = "desk-key-for-tests-0123456789abcdefg"
TOKEN_KEY = "token-secret-for-tests-0123456789"
EMAIL = "jane.roe@example.com"
SSN = "536-22-8741"
REASON = "DSAR-2026-114: the consumer asked for a copy of their data"


def customer(req: OriginRequest) -> OriginResponse:
    body = orjson.dumps({"id": 42, "email": EMAIL, "ssn": SSN, "plan": "gold"})
    return OriginResponse(200, [(b"content-type", b"application/json")], body)


def config(port: int) -> str:
    extra = """
filters:
  audit: {enabled: true, instance_id: e2e}
  pii:
    engine:
      tokenize: {key: "${CPG_T_TOKKEY}", reversible: true}
      actions: {entities: {email: tokenize, us_ssn: tokenize}}
admin:
  bind: "127.0.0.1:0"
  keys:
    - {name: ops, role: admin, key: "${CPG_T_ADMIN}"}
    - {name: dsar-desk, role: detokenize, key: "${CPG_T_DESK}"}
"""
    routes = '  - {path: "/v1/customers/{id}", upstream: o, personal: true}\n'
    return plain_config(port, routes, extra)



def test_tokenize_through_the_gateway_detokenize_through_the_admin_api_audited() -> None:
    async def t() -> None:
        env = {"CPG_T_TOKKEY": TOKEN_KEY, "CPG_T_ADMIN": ADMIN, "CPG_T_DESK": DESK}
        async with origin(customer) as o, gateway(config(o.port), **env, with_stores=True) as gw:
            assert gw.admin is not None
            api = await Client.open(gw.bound_ports()[0])
            r = await api.request("GET", "/v1/customers/42")
            assert r.status == 200
            doc = orjson.loads(r.body)
            leaked = EMAIL.encode() in r.body or SSN.encode() in r.body
            assert not leaked, "a value to be tokenized reached the client"
            assert doc["email"].startswith("tok_email_r") and doc["ssn"].startswith("tok_us_ssn_r")
            await api.close()

            admin_port = int(gw.admin.url.rstrip("/").rsplit(":", 1)[1])
            adm = await Client.open(admin_port)

            async def detokenize(key: str, tokens: list[str]) -> tuple[int, dict[str, Any]]:
                body = orjson.dumps({"tokens": tokens, "reason": REASON})
                rr = await adm.request("POST", "/api/detokenize", {"authorization": f"Bearer {key}",
                                                                 "content-type": "application/json"}, body)
                return rr.status, orjson.loads(rr.body)

            status, out = await detokenize(DESK, [doc["email"], doc["ssn"], doc["email"][:-4]])
            assert status == 200
            assert [x.get("value") for x in out["results"][:2]] == [EMAIL, SSN]
            assert [x.get("entity") for x in out["results"][:2]] == ["email", "us_ssn"]
            assert out["results"][2]["error"] == "CPG-PII-005" and (out["revealed"], out["refused"]) == (2, 1)
            served_id = out["audit_id"]

            status, out = await detokenize(ADMIN, [doc["email"]])  # the admin role may not
            assert status == 403 and out["code"] == "CPG-ADM-003" and "value" not in str(out)

            # a body the listener refuses: too large, answered as problem+json
            big = b"{" + b" " * 70_000 + b"}"
            rr = await adm.request("POST", "/api/detokenize", {"authorization": f"Bearer {DESK}",
                                                             "content-type": "application/json"}, big)
            assert rr.status == 413 and orjson.loads(rr.body)["code"] == "CPG-ADM-004"
            await adm.close()

            # both calls are in the trail (shipped by the writer thread within moments)
            adm = await Client.open(admin_port)
            events: list[dict[str, Any]] = []
            for _ in range(100):
                rr = await adm.request("GET", "/api/audit?route=/api/detokenize",
                                       {"authorization": f"Bearer {ADMIN}"})
                assert rr.status == 200
                events = orjson.loads(rr.body)["events"]
                if len(events) >= 2:
                    break
                await asyncio.sleep(0.1)
            # "was this person's data revealed?": the reveal is found by the value's subject lookup
            rr = await adm.request("GET", "/api/audit?route=/api/detokenize&subject=" + SSN,
                                   {"authorization": f"Bearer {ADMIN}"})
            by_subject = orjson.loads(rr.body)["events"]
            await adm.close()
            assert len(events) == 2, "the detokenize calls were not found in the audit trail"
            assert [e["consumer"] for e in by_subject] == ["dsar-desk"]
            by = {e["consumer"]: e for e in events}
            served, refused = by["dsar-desk"], by["ops"]
            assert served["id"] == served_id and served["outcome"] == "served" and served["status"] == 200
            assert served["checks"]["detokenize"]["reason"] == REASON
            assert served["checks"]["detokenize"]["revealed"] == 2 and served["checks"]["detokenize"]["refused"] == 1
            assert served["pii"]["entities"] == {"email": 1, "us_ssn": 1} and served["pii"]["spi"] == 1
            assert refused["decision"] == "deny" and refused["status"] == 403 and refused["error"] == "CPG-ADM-003"
            trail = orjson.dumps(events)
            leaked = any(v.encode() in trail for v in (EMAIL, SSN, doc["email"], doc["ssn"]))
            assert not leaked, "a value or token reached the audit trail"

    run(t())
