from __future__ import annotations

import pytest

from cpragate.scanner.model import Finding, HttpRequest, HttpResponse, Severity


def test_severity_orders_and_parses() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.parse(" High ") is Severity.HIGH and Severity.HIGH.label == "high"
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        Severity.parse("severe")


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = dict(check="bola", owasp="API1:2023", cwe=639, severity=Severity.HIGH, title="t",
                                   operation="GET /a/{id}", detail="d", fix="f", key="read")
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def test_fingerprint_depends_on_what_and_where_not_on_details() -> None:
    a = _finding(detail="object 17", severity=Severity.MEDIUM)
    b = _finding(detail="object 99")
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != _finding(operation="GET /b/{id}").fingerprint
    assert a.fingerprint != _finding(key="write").fingerprint
    d = a.to_dict()
    assert d["cwe"] == "CWE-639" and d["severity"] == "medium" and d["fingerprint"] == a.fingerprint


def test_request_and_response_helpers() -> None:
    req = HttpRequest("GET", "/s", query=[("q", "a b"), ("n", "1")])
    assert req.target() == "/s?q=a+b&n=1" and req.content() is None
    assert HttpRequest("POST", "/", json={"a": 1}).content() == b'{"a":1}'
    resp = HttpResponse(201, {"content-type": "application/json"}, b'{"x": 1}')
    assert resp.ok and resp.json() == {"x": 1} and resp.header("Content-Type") == "application/json"
    assert HttpResponse(200, body=b"<html>").json() is None and not HttpResponse(0, error="x").ok


@pytest.mark.parametrize(
    ("status", "body", "granted"),
    [
        (200, b'{"items": []}', True),
        (200, b'{"status": "fail", "message": "Invalid token."}', False),
        (200, b'{"error": "Unauthorized"}', False),
        (200, b'{"message": "Admin permission required"}', False),
        (200, b'{"message": "Book has been added.", "status": "success"}', True),
        (200, b"<html>ok</html>", True),
        (403, b'{"items": []}', False),
    ],
)
def test_granted_sees_refusals_dressed_as_success(status: int, body: bytes, granted: bool) -> None:
    assert HttpResponse(status, {}, body).granted is granted
