from __future__ import annotations

import yaml

from cpragate.scanner.model import Finding, Severity
from cpragate.scanner.policy import suggest_policy


def _f(check: str, policy: dict[str, object], op: str = "getNote") -> Finding:
    return Finding(check, "API1:2023", 639, Severity.HIGH, "t", "GET /notes/{id}", "d", "f",
                   policy={"operation_id": op, "method": "GET", "path": "/notes/{id}", **policy})


def test_findings_become_route_overrides_and_filters() -> None:
    text = suggest_policy([
        _f("bola", {"bola": {"owner_fields": ["owner"]}}),
        _f("mass-assignment", {"privileged": ["role"]}, op="register"),
        _f("excessive-data-exposure", {"strip": ["/items/*/password_hash"]}, op="listUsers"),
        _f("bfla", {"bfla": {"scopes": ["admin"]}}, op="adminUsers"),
        _f("no-rate-limit", {"rate_limit": True}),
        _f("undocumented-version", {"unrouted": "/api/v0/notes"}),
    ], spec_path="openapi.yaml")
    assert text.startswith("# Proposed by `cpragate scan --suggest-policy`")
    assert "# - /api/v0/notes: not in the spec" in text
    doc = yaml.safe_load(text)
    route = doc["routes"][0]
    assert route["from_openapi"] == "openapi.yaml"
    ov = route["overrides"]
    assert ov["getNote"]["authz"]["owner"] == [{"field": "/owner", "in": "consumer.owner_ids"}]
    assert ov["register"]["validation"] == {"mass_assignment": "reject", "privileged": [{"property": "role", "scopes": ["admin"]}]}
    assert ov["listUsers"]["minimize"]["rules"][0]["response"]["deny"] == ["items[*].password_hash"]
    assert ov["adminUsers"]["authz"]["scopes"] == ["admin"]
    assert doc["filters"]["ratelimit"]["per_consumer"] == {"rate": 20, "per": 1}


def test_no_findings_gives_an_empty_fragment() -> None:
    assert yaml.safe_load(suggest_policy([], spec_path="s.yaml")) == {}
