"""API2 on a fake API: which forgeries it accepts decides what is reported."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from cpragate.openapi import Spec
from cpragate.scanner import jwtutil
from cpragate.scanner.checks import auth, discovery
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, jwt, make_ctx, ok, run_check

SECRET = "changeme"


def _claims(token: str) -> dict[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=="))
        claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
    except ValueError:
        return None
    return claims if header else None


def api(verify: Callable[[str], bool], query_token: bool = False, enum: bool = False) -> Callable[[HttpRequest], HttpResponse]:
    def handle(req: HttpRequest) -> HttpResponse:
        if req.path == "/login":
            body = json.loads(req.content() or b"{}")
            if enum and body.get("username") != "alice":
                return ok({"error": "no such user"}, 404)
            return ok({"error": "invalid credentials"}, 401)
        token = req.headers.get("Authorization", "")[7:]
        if not token and query_token:
            token = dict(req.query).get("access_token", "")
        if not token or not verify(token):
            return ok({"error": "unauthorized"}, 401)
        if req.path == "/items":
            return ok({"items": [{"id": 1, "owner": "alice"}]})
        return HttpResponse(404)

    return handle


def strict(token: str) -> bool:
    return jwtutil.crack(token, [SECRET]) == SECRET and (_claims(token) or {}).get("exp", 0) > 2000000000  # type: ignore[operator]


def sloppy(token: str) -> bool:
    claims = _claims(token)
    return claims is not None and "sub" in claims  # trusts any well-formed token


def run(spec: Spec, handler: Callable[[HttpRequest], HttpResponse], token: str) -> set[str]:
    ctx = make_ctx(spec, f"alice={token}")
    target = FakeTarget(handler)
    run_check(discovery.run, ctx, target)
    run_check(auth.run, ctx, target)
    return {f.check for f in ctx.findings}


def test_a_careful_api_with_a_strong_key_has_no_findings(spec: Spec) -> None:
    token = jwtutil.encode_hs({"alg": "HS256"}, {"sub": "alice", "exp": 4102444800}, "r4nd0m-" * 6)
    strong = lambda t: jwtutil.crack(t, ["r4nd0m-" * 6]) is not None and (_claims(t) or {}).get("exp", 0) > 2000000000  # type: ignore[operator]  # noqa: E731
    assert run(spec, api(strong), token) == set()


def test_a_dictionary_key_is_cracked_and_expiry_is_tested_with_it(spec: Spec) -> None:
    token = jwtutil.encode_hs({"alg": "HS256"}, {"sub": "alice", "exp": 4102444800}, SECRET)
    assert run(spec, api(strict), token) == {"jwt-weak-secret"}
    ignores_exp = lambda t: jwtutil.crack(t, [SECRET]) == SECRET  # noqa: E731
    assert run(spec, api(ignores_exp), token) == {"jwt-weak-secret", "jwt-expired-accepted"}


def test_an_api_that_trusts_any_token_gets_every_forgery_reported(spec: Spec) -> None:
    found = run(spec, api(sloppy, query_token=True, enum=True), jwt("alice"))
    assert {"jwt-alg-none", "jwt-signature-stripped", "jwt-signature-not-verified", "auth-credential-in-query", "user-enumeration"} <= found
    assert "auth-garbage" not in found  # garbage is not a well-formed token


def test_no_expiry_and_anonymous_access(spec: Spec) -> None:
    assert "jwt-no-expiry" in run(spec, api(lambda t: True), jwt("alice", exp=None))
    open_api = lambda r: ok({"items": []}) if r.path == "/items" else HttpResponse(404)  # noqa: E731
    assert "auth-missing" in run(spec, open_api, jwt("alice"))


@pytest.mark.parametrize("garbage_ok", [True, False])
def test_garbage(spec: Spec, garbage_ok: bool) -> None:
    verify = (lambda t: True) if garbage_ok else strict
    token = jwtutil.encode_hs({"alg": "HS256"}, {"sub": "alice", "exp": 4102444800}, SECRET)
    assert ("auth-garbage" in run(spec, api(verify), token)) is garbage_ok
