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
    assert ov["listUsers"]["minimize"]["default"]["response"]["deny"] == ["items[*].password_hash"]
    assert ov["adminUsers"]["authz"]["scopes"] == ["admin"]
    assert doc["filters"]["ratelimit"]["per_consumer"] == {"rate": 20, "per": 1}


def test_no_findings_gives_an_empty_fragment() -> None:
    assert yaml.safe_load(suggest_policy([], spec_path="s.yaml")) == {}


def test_the_fragment_is_a_valid_gateway_config_once_the_upstream_is_named() -> None:
    from pathlib import Path

    from cpragate.config import load_config_text
    from cpragate.testing.vulnapi import SPEC_PATH

    findings = [
        _f("bola", {"bola": {"owner_fields": ["owner"]}}, op="getNote"),
        _f("mass-assignment", {"privileged": ["role"]}, op="register"),
        _f("credential-exposure", {"strip": ["/password_hash"]}, op="getMe"),
        _f("excessive-data-exposure", {"strip": ["/ssn"]}, op="getMe"),
        _f("bfla", {"bfla": {"scopes": ["admin"]}}, op="adminListUsers"),
        _f("cors-permissive", {"cors": True}, op="getMe"),
        _f("jwt-alg-none", {"authn": True}),
        _f("no-rate-limit", {"rate_limit": True}),
        _f("no-login-throttling", {"rate_limit_login": True}, op="login"),
        _f("security-headers", {"security_headers": True}),
        _f("spi-exposure", {"mask_spi": True}, op="getMe"),
        _f("unbounded-page-size", {"max_page_size": {"param": "limit", "maximum": 50}}, op="listProducts"),
    ]
    doc = yaml.safe_load(suggest_policy(findings, spec_path=str(SPEC_PATH)))
    assert doc["routes"][0]["overrides"]["getMe"]["minimize"]["default"]["response"]["deny"] == ["password_hash", "ssn"]
    doc["routes"][0]["upstream"] = "api"
    cfg = {"version": 1, "listeners": [{"bind": "127.0.0.1:18080"}],
           "upstreams": {"api": {"url": "http://127.0.0.1:9", "allow_plaintext": True}}, **doc}  # fmt: skip
    loaded = load_config_text(yaml.safe_dump(cfg), "suggested.yaml", env={}, base_dir=Path("/"))
    assert len(loaded.routes) > 10
