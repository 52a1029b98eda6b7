"""Evidence never carries credentials or raw personal data."""

from __future__ import annotations

from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.scanner.redact import Redactor
from cpragate.testing.scanner import jwt

TOKEN = "cpg_live_abcdefghijklmnop"


def test_request_credentials_are_removed_everywhere() -> None:
    r = Redactor([TOKEN])
    req = HttpRequest("GET", "/me", query=[("access_token", TOKEN), ("q", "x")],
                      headers={"Authorization": f"Bearer {TOKEN}", "X-Custom": f"k={TOKEN}", "Accept": "application/json",
                               "X-Other": jwt("alice")}, identity="alice")
    text = r.request(req)
    assert TOKEN not in text and "eyJ" not in text
    assert "Authorization: <credential removed>" in text and "X-Custom: <credential removed>" in text
    assert "access_token=<credential>" in text and "q=x" in text and "(as identity 'alice')" in text


def test_bodies_mask_personal_data_and_drop_secret_values() -> None:
    r = Redactor()
    body = b'{"email": "jane.roe@example.com", "password_hash": "pbkdf2:abc", "ssn": "536-22-8741", "token": "' + jwt("a").encode() + b'"}'
    text = r.response(HttpResponse(200, {"content-type": "application/json", "set-cookie": "sid=1"}, body))
    assert "jane.roe@example.com" not in text and "536-22-8741" not in text and "pbkdf2" not in text and "eyJ" not in text
    assert "<removed>" in text and "set-cookie: <credential removed>" in text and "HTTP 200" in text


def test_text_bodies_and_limits() -> None:
    r = Redactor(limit=40)
    text = r.body(b"call jane.roe@example.com " + b"x" * 200)
    assert "jane.roe@example.com" not in text and "more characters" in text
    assert r.response(HttpResponse(0, error="refused: x")) == "(no HTTP answer: refused: x)"


def test_added_secrets_are_removed_from_details() -> None:
    r = Redactor()
    r.add_secret("hunter22")
    assert r.secrets_only("key hunter22 and " + jwt("a")) == "key <credential> and <jwt>"
    r.add_secret("ab")  # too short to be worth replacing everywhere
    assert "ab" not in r.secrets
