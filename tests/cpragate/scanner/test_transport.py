"""The transport's safety rules (checked before anything is sent) and pacing."""

from __future__ import annotations

import pytest

from cpragate.errors import ScanTargetError
from cpragate.scanner.model import HttpRequest
from cpragate.scanner.transport import Transport


@pytest.mark.parametrize("target", ["ftp://x", "localhost:8080", "https://"])
def test_target_must_be_http_with_a_host(target: str) -> None:
    with pytest.raises(ScanTargetError):
        Transport(target)


def test_other_hosts_and_unsafe_methods_are_refused_unsent() -> None:
    with Transport("http://127.0.0.1:9", max_requests=5) as t:
        for req, why in [
            (HttpRequest("GET", "/", url="http://169.254.169.254/latest/meta-data"), "not the target host"),
            (HttpRequest("GET", "/", url="file:///etc/passwd"), "not the target host"),
            (HttpRequest("DELETE", "/items/1"), "needs --unsafe-methods"),
            (HttpRequest("PATCH", "/items/1"), "needs --unsafe-methods"),
        ]:
            resp = t.send(req)
            assert resp.status == 0 and why in (resp.error or "")
        assert t.sent == 0 and t.refused == 4
        assert t.check(HttpRequest("GET", "/x", url="http://127.0.0.1:80/x")) is None  # same host, other port: allowed


def test_budget_is_enforced() -> None:
    with Transport("http://127.0.0.1:9", max_requests=1, timeout=0.5) as t:
        first = t.send(HttpRequest("GET", "/"))  # nothing listens on port 9: an error answer, but it counts
        assert first.status == 0 and t.sent == 1
        second = t.send(HttpRequest("GET", "/"))
        assert "budget" in (second.error or "") and t.sent == 1
        burst = t.send_many((HttpRequest("GET", "/"), HttpRequest("GET", "/")), 2)
        assert all(r.status == 0 and "budget" in (r.error or "") for r in burst) and t.sent == 1


def test_unsafe_methods_allowed_when_asked_and_tls_probe_needs_https() -> None:
    with Transport("http://127.0.0.1:9", unsafe_methods=True) as t:
        assert t.check(HttpRequest("DELETE", "/x")) is None
        assert t.tls_probe("TLSv1") is None
    with pytest.raises(ScanTargetError, match="does not answer"), Transport("http://127.0.0.1:9", timeout=0.5) as t:
        t.preflight()
