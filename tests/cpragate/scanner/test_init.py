"""``scan()`` end to end against the example API on loopback (the e2e suite covers the CLI,
the fixed twin and the demo behind the gateway)."""

from __future__ import annotations

import pytest

from cpragate.errors import ScanError, ScanTargetError
from cpragate.openapi import load_spec
from cpragate.scanner import Severity, scan
from cpragate.testing.vulnapi import VulnApi


def test_scan_finds_the_planted_flaws_and_stays_on_budget() -> None:
    with VulnApi() as api:
        a, b = api.login("alice", "alice-Passw0rd!"), api.login("bob", "bob-Passw0rd!")
        result = scan(load_spec(api.spec_path), api.url, [f"alice={a}", f"bob={b}"], rate=200, max_requests=400,
                      burst=20, strict=True)  # fmt: skip
    checks = {f.check for f in result.findings}
    assert {"bola", "jwt-alg-none", "mass-assignment", "bfla", "ssrf", "sql-injection", "undocumented-version"} <= checks
    assert not any(f.check == "bola-write" for f in result.findings)  # no --unsafe-methods: no PUT/DELETE sent
    assert result.requests <= 400 and all(f.severity >= Severity.INFO for f in result.findings)


def test_scan_refuses_bad_identities_and_dead_targets() -> None:
    with VulnApi() as api:
        spec = load_spec(api.spec_path)
        with pytest.raises(ScanError, match="identity names must differ"):
            scan(spec, api.url, ["a=x1234", "a=y1234"])
        with pytest.raises(ScanError, match="--admin root is not an identity"):
            scan(spec, api.url, ["a=x1234"], admins=["root"])
        port = api.port
    with pytest.raises(ScanTargetError, match="does not answer"):
        scan(spec, f"http://127.0.0.1:{port}", [], timeout=0.5)
