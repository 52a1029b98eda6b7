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


# --- POST /api/detokenize ------------------------------------------------------------------

DETOK = "detok-key-0123456789abcdefghij"
TOKEN_KEY = "token-secret-0123456789abcdef"
EMAIL = "jane.roe@example.com"
SSN = "536-22-8741"


class Detok:
    """An API with a reversible-token engine and an audit trail that keeps its records."""

    def __init__(self, reversible: bool = True, audit: bool = True, spooled: bool = True, **limits: Any) -> None:
        from cpragate.admin.config import DetokenizeLimits
        from cpragate.pii import Action, ActionRules, Engine, PiiConfig, TokenizeOptions

        self.clock = FakeClock()
        self.engine = Engine(PiiConfig(tokenize=TokenizeOptions.model_validate({"key": TOKEN_KEY, "reversible": reversible})))
        doc = self.engine.process_json({"email": EMAIL, "ssn": SSN}, ActionRules(default=Action.TOKENIZE, spi=None)).body
        self.tokens = orjson.loads(doc)
        self.records: list[list[Any]] = []
        self.spooled = spooled

        async def event(record: list[Any]) -> bool:
            self.records.append(record)
            return self.spooled

        src = Sources(pii_engine=lambda: self.engine, audit_event=event if audit else None, new_id=lambda: "rid-1",
                      audit_lookup=fake_lookup if audit else None)
        keys = [AdminKey.model_validate({"name": "ops", "role": "admin", "key": ADMIN}),
                AdminKey.model_validate({"name": "dpo", "role": "read_only", "key": READER}),
                AdminKey.model_validate({"name": "dsar-desk", "role": "detokenize", "key": DETOK})]
        self.api = AdminApi(AdminAuth(keys, clock=self.clock), src, clock=self.clock,
                            detokenize=DetokenizeLimits.model_validate(limits))

    def call(self, doc: Any, key: str | None = DETOK, method: str = "POST", ctype: bytes = b"application/json",
             raw: bytes | None = None) -> AdminResponse:
        headers = {b"content-type": ctype}
        if key:
            headers[b"authorization"] = b"Bearer " + key.encode()
        payload = raw if raw is not None else orjson.dumps(doc)
        return asyncio.run(self.api.handle(method, "/api/detokenize", b"", headers, "127.0.0.1", payload))

    def events(self) -> list[dict[str, Any]]:
        from cpragate.audit.events import build_event

        return [build_event(r[1], r[2], resolve=str, param_token=str) for r in self.records]


REASON = "DSAR-2026-114: the consumer asked for their data"


def fake_lookup(value: str) -> str:
    import hashlib

    return hashlib.sha256(b"master" + value.encode()).hexdigest()[:32]


def test_detokenize_reveals_values_to_the_detokenize_role_and_audits_who_what_and_why() -> None:
    d = Detok()
    forged = d.tokens["email"][:-3] + ("AAA" if not d.tokens["email"].endswith("AAA") else "BBB")
    r = d.call({"tokens": [d.tokens["email"], d.tokens["ssn"], forged, "tok_email_abcdefghijklmnopqrst"],
                "reason": REASON})
    assert r.status == 200 and (b"cache-control", b"no-store") in r.headers
    out = body(r)
    assert out["results"][:2] == [
        {"entity": "email", "category": "identifiers", "spi": False, "value": EMAIL},
        {"entity": "us_ssn", "category": "identifiers", "spi": True, "value": SSN},
    ]
    assert [x["error"] for x in out["results"][2:]] == ["CPG-PII-005", "CPG-PII-005"]
    assert "altered" in out["results"][2]["detail"] and "keyed-hash" in out["results"][3]["detail"]
    assert (out["revealed"], out["refused"], out["audit_id"]) == (2, 2, "rid-1")
    [ev] = d.events()
    assert (ev["consumer"], ev["auth"], ev["route"], ev["method"], ev["status"]) == (
        "dsar-desk", "admin_key", "/api/detokenize", "POST", 200)
    assert (ev["outcome"], ev["decision"], ev["id"], ev["client_ip"]) == ("served", "allow", "rid-1", "127.0.0.1")
    assert ev["checks"]["detokenize"] == {"admin_key": "dsar-desk", "role": "detokenize", "reason": REASON, "reason_chars": len(REASON),
                                          "tokens": 4, "revealed": 2, "refused": 2, "prefix": "tok_"}
    assert ev["pii"] == {"categories": {"identifiers": 2}, "entities": {"email": 1, "us_ssn": 1}, "spi": 1,
                         "actions": {"detokenize": 2}}
    trail = orjson.dumps(d.records)
    leaked = any(v.encode() in trail for v in (EMAIL, SSN, d.tokens["email"], d.tokens["ssn"]))
    assert not leaked, "a value or token reached the audit record"


def test_detokenize_refusals_are_audited_and_name_the_fix() -> None:
    d = Detok(max_audited_refusals=100)
    good = {"tokens": [d.tokens["email"]], "reason": REASON}
    for key, status in ((ADMIN, 403), (READER, 403), (None, 401), ("wrong-key-0123456789abcdef", 401)):
        r = d.call(good, key=key)
        assert r.status == status and body(r)["code"] == "CPG-ADM-003" and EMAIL.encode() not in r.body
    assert "only a key of role detokenize" in body(d.call(good, key=ADMIN))["detail"]
    assert d.call(good, method="GET").status == 405
    bad_bodies: list[tuple[dict[str, Any], int, str]] = [
        ({"ctype": b"text/plain"}, 415, "application/json"),
        ({"raw": b""}, 400, "JSON body is required"),
        ({"raw": b"{not json"}, 400, "not valid JSON"),
        ({"raw": b"[1]"}, 400, "JSON object"),
        ({"doc": {**good, "note": 1}}, 400, "unknown field(s) 'note'"),
        ({"doc": {"tokens": [], "reason": REASON}}, 400, "non-empty list"),
        ({"doc": {"tokens": [1], "reason": REASON}}, 400, "tokens[0]"),
        ({"doc": {"tokens": ["t"] * 101, "reason": REASON}}, 400, "at most 100 tokens"),
        ({"doc": {"tokens": ["t"]}}, 400, "reason is required"),
        ({"doc": {"tokens": ["t"], "reason": "why"}}, 400, "8 to 500"),
        ({"doc": {"tokens": ["t"], "reason": "line one\nline two"}}, 400, "one line"),
    ]
    for kw, status, detail in bad_bodies:
        r = d.call(kw.get("doc"), ctype=kw.get("ctype", b"application/json"), raw=kw.get("raw"))
        assert r.status == status and body(r)["code"] == "CPG-ADM-004" and detail in body(r)["detail"], (kw, body(r))
    evs = d.events()
    assert len(evs) == 5 + len(bad_bodies) and all(e["decision"] == "deny" and e["outcome"] == "denied" for e in evs)
    assert [e["consumer"] for e in evs[:3]] == ["ops", "dpo", None]  # a wrong key is audited, no key is not
    assert evs[0]["rule"] == "admin:detokenize:CPG-ADM-003" and evs[0]["error"] == "CPG-ADM-003"
    assert evs[0]["checks"]["detokenize"]["reason"] == REASON and evs[0]["checks"]["detokenize"]["tokens"] == 1
    assert evs[0]["pii"] is None and all(e["checks"]["detokenize"]["revealed"] == 0 for e in evs)


def test_the_reason_is_recorded_with_personal_data_redacted() -> None:
    d = Detok()
    r = d.call({"tokens": [d.tokens["email"]], "reason": f"ticket 88 from {EMAIL} about SSN {SSN}"})
    assert r.status == 200
    reason = d.events()[0]["checks"]["detokenize"]["reason"]
    assert reason.startswith("ticket 88 from [REDACTED:email]") and SSN not in reason


def test_keyed_hash_tokens_cannot_be_reversed_and_the_answer_names_the_fix() -> None:
    d = Detok(reversible=False)
    r = d.call({"tokens": [d.tokens["email"]], "reason": REASON})
    assert r.status == 409 and body(r)["code"] == "CPG-PII-011" and "reversible: true" in body(r)["detail"]
    assert d.events()[0]["error"] == "CPG-PII-011"


def test_detokenize_needs_audit_tokenization_and_a_spooled_event() -> None:
    off = Detok(audit=False)
    r = off.call({"tokens": ["t"], "reason": REASON})
    assert r.status == 409 and body(r)["code"] == "CPG-ADM-005" and "filters.audit" in body(r)["detail"]
    assert off.call({"tokens": ["t"], "reason": REASON}, key=ADMIN).status == 403  # the role is checked first
    d = Detok()
    d.engine = None  # type: ignore[assignment]  # the pii filter is off
    r = d.call({"tokens": ["t"], "reason": REASON})
    assert r.status == 409 and body(r)["code"] == "CPG-ADM-005" and "tokenize.key" in body(r)["detail"]
    d = Detok(spooled=False)  # the spool refused the event: nothing is revealed
    r = d.call({"tokens": [d.tokens["email"]], "reason": REASON})
    assert r.status == 503 and body(r)["code"] == "CPG-AUD-006" and EMAIL.encode() not in r.body
    assert d.records and d.events()[0]["status"] == 200  # it was attempted with the outcome it would have had


def test_refused_tokens_and_volume_are_limited_per_key() -> None:
    d = Detok(max_failures=3, max_values_per_minute=5)
    forged = {"tokens": ["tok_email_rAAAA", "tok_email_rBBBB"], "reason": REASON}
    assert d.call(forged).status == 200  # 2 refused
    r = d.call(forged)  # the 3rd reaches the limit: the 4th is not looked up
    assert r.status == 200 and [x["error"] for x in body(r)["results"]] == ["CPG-PII-005", "CPG-ADM-006"]
    assert d.api._detok_refused.count("dsar-desk") == 3
    r = d.call({"tokens": [d.tokens["email"]], "reason": REASON})
    assert r.status == 429 and body(r)["code"] == "CPG-ADM-006" and EMAIL.encode() not in r.body
    d.clock.advance(61)
    assert d.call({"tokens": [d.tokens["email"]] * 5, "reason": REASON}).status == 200
    r = d.call({"tokens": [d.tokens["email"]], "reason": REASON})
    assert r.status == 429 and "max_values_per_minute" in body(r)["detail"]
    assert d.events()[-1]["error"] == "CPG-ADM-006"
    d.clock.advance(61)
    assert d.call({"tokens": [d.tokens["ssn"]], "reason": REASON}).status == 200


def test_an_address_locked_out_by_bad_keys_is_refused_unaudited() -> None:
    d = Detok()
    for _ in range(20):
        d.call({"tokens": ["t"], "reason": REASON}, key="wrong-key-0123456789abcdef")
    n = len(d.records)
    r = d.call({"tokens": [d.tokens["email"]], "reason": REASON})
    assert r.status == 429 and len(d.records) == n == 11  # bounded: 10 audited failures per address and minute, + 1 paused


def test_other_endpoints_ignore_a_body() -> None:
    d = Detok()
    r = asyncio.run(d.api.handle("GET", "/api/whoami", b"", {b"authorization": b"Bearer " + READER.encode()}, "", b"{}"))
    assert r.status == 200 and d.records == []


def test_detokenize_refusals_read_the_same_with_or_without_the_audit_trail() -> None:
    on, off = Detok(), Detok(audit=False)
    for key in (ADMIN, READER, None, "wrong-key-0123456789abcdef"):
        a, b = on.call({"tokens": ["t"], "reason": REASON}, key=key), off.call({"tokens": ["t"], "reason": REASON}, key=key)
        assert (a.status, body(a)["detail"]) == (b.status, body(b)["detail"]), key and key[:5]


def test_a_refusal_stays_a_refusal_when_the_spool_refuses_its_event() -> None:
    d = Detok(spooled=False)
    for key, status in ((ADMIN, 403), ("wrong-key-0123456789abcdef", 401)):
        r = d.call({"tokens": [d.tokens["email"]], "reason": REASON}, key=key)
        assert r.status == status and body(r)["code"] == "CPG-ADM-003"
    assert d.call({"tokens": [d.tokens["email"]], "reason": "short"}).status == 400
    assert d.call({"tokens": [d.tokens["email"]], "reason": REASON}).status == 503  # only a reveal is withheld


def test_one_batch_cannot_overshoot_the_refused_token_limit() -> None:
    d = Detok(max_failures=20)
    r = d.call({"tokens": ["tok_email_rAAAA"] * 19, "reason": REASON})
    r = d.call({"tokens": ["tok_email_rAAAA"] * 99 + [d.tokens["email"]], "reason": REASON})
    out = body(r)
    assert r.status == 200 and d.api._detok_refused.count("dsar-desk") == 20
    assert out["results"][0]["error"] == "CPG-PII-005"
    assert all(x["error"] == "CPG-ADM-006" and "max_failures" in x["detail"] for x in out["results"][1:])
    assert EMAIL.encode() not in r.body and out["revealed"] == 0


def test_refusals_are_audited_up_to_a_bound_per_key_and_per_address() -> None:
    d = Detok(max_audited_refusals=3)
    good = {"tokens": [d.tokens["email"]], "reason": REASON}
    for _ in range(50):
        assert d.call(good, key=ADMIN).status == 403
    evs = d.events()
    assert len(evs) == 4 and all(e["status"] == 403 for e in evs)  # 3, then the one that says audit pauses
    assert [e["checks"]["detokenize"].get("audit_paused") for e in evs] == [None, None, None, True]
    for _ in range(50):  # another key from the same address: the address is past its bound too
        assert d.call({"tokens": ["t"], "reason": "short"}).status == 400
    assert len(d.records) == 4
    r = asyncio.run(d.api.handle("POST", "/api/detokenize", b"", {b"content-type": b"application/json",
                    b"authorization": b"Bearer " + ADMIN.encode()}, "192.0.2.8", orjson.dumps(good)))
    assert r.status == 403 and len(d.records) == 4  # the key is past its bound from any address
    assert d.call(good).status == 200 and len(d.records) == 5  # a reveal is always audited
    d.clock.advance(61)
    assert d.call(good, key=ADMIN).status == 403 and len(d.records) == 6


def test_the_reason_is_recorded_without_tokens_control_characters_or_a_wrong_keys_text() -> None:
    d = Detok()
    tok = d.tokens["email"]
    r = d.call({"tokens": [tok], "reason": f"ticket 1 token {tok} and {d.tokens['ssn'][:12]} cut"})
    assert r.status == 200
    reason = d.events()[-1]["checks"]["detokenize"]["reason"]
    assert tok not in reason and d.tokens["ssn"][:12] not in reason
    assert reason == "ticket 1 token [REDACTED:token] and [REDACTED:token] cut"
    evil = "ok reason\n\x1b[31mFAKE: audit line\x1b[0m"
    assert d.call({"tokens": ["t"], "reason": evil}, key="wrong-key-0123456789abcdef").status == 401
    checks = d.events()[-1]["checks"]["detokenize"]
    assert checks["reason"] is None and checks["reason_chars"] == len(evil)  # only its length: anyone's input
    assert d.call({"tokens": ["t"], "reason": evil}, key=ADMIN).status == 403
    reason = d.events()[-1]["checks"]["detokenize"]["reason"]
    assert reason is not None and reason.isprintable() and "\x1b" not in reason and reason.startswith("ok reason")


def test_the_subjects_of_revealed_values_are_recorded_by_their_keyed_lookup() -> None:
    d = Detok()
    r = d.call({"tokens": [d.tokens["email"], d.tokens["ssn"], d.tokens["email"], "tok_email_rAAAA"], "reason": REASON})
    assert r.status == 200
    [ev] = d.events()
    assert ev["subjects"] == [fake_lookup(EMAIL), fake_lookup(SSN)]  # once each, never the value
    assert d.call({"tokens": ["tok_email_rAAAA"], "reason": REASON}, key=ADMIN).status == 403
    assert d.events()[-1]["subjects"] == []
