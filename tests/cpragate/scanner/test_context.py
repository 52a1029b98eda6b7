from __future__ import annotations

from pathlib import Path

import pytest

from cpragate.errors import ScanIdentityError
from cpragate.openapi import Spec, load_spec
from cpragate.scanner.context import decode_jwt, match_value, parse_identity
from cpragate.testing.scanner import jwt, make_ctx


def _read(p: str) -> str:
    return Path(p).read_text()


def test_identity_forms(spec: Spec, tmp_path: Path) -> None:
    tok = jwt("alice")
    (tmp_path / "a.token").write_text(tok + "\n")
    a = parse_identity(spec, f"alice=@{tmp_path / 'a.token'}", _read)
    assert a.credential.value == f"Bearer {tok}" and a.is_jwt and "alice" in a.subjects
    k = parse_identity(spec, "svc=x-api-key: cpg_123456", _read)
    assert (k.credential.location, k.credential.name, k.credential.token) == ("header", "x-api-key", "cpg_123456")
    c = parse_identity(spec, "web=Cookie: sid=abc123", _read)
    assert (c.credential.location, c.credential.name, c.credential.value) == ("cookie", "sid", "abc123")
    forged = a.credential.with_token("eyJforged.x.")
    assert forged.value == "Bearer eyJforged.x." and forged.name == "Authorization"


@pytest.mark.parametrize("arg", ["alice", "=tok", "bad name=tok", "alice=", "alice=@/nonexistent/file"])
def test_bad_identities_are_named(spec: Spec, arg: str) -> None:
    with pytest.raises(ScanIdentityError) as e:
        parse_identity(spec, arg, _read)
    assert "--auth" in str(e.value) and "CPG-SCAN-004" in str(e.value)


def test_api_key_scheme_places_the_token(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("""
openapi: 3.0.3
info: {title: t, version: "1"}
security: [{k: []}]
paths: {/a: {get: {responses: {"200": {description: ok}}}}}
components: {securitySchemes: {k: {type: apiKey, in: query, name: api_key}}}
""")
    ident = parse_identity(load_spec(p), "bot=s3cr3t-value", _read)
    assert (ident.credential.location, ident.credential.name) == ("query", "api_key")


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("item_id", {"id": 7, "name": "x"}, 7),
        ("username", {"user": "bob"}, "bob"),
        ("book_title", {"title": "Dune"}, "Dune"),
        ("id", {"uuid": "u-1"}, "u-1"),
        ("vin", {"id": 1}, None),
    ],
)
def test_match_value(name: str, values: dict[str, object], expected: object) -> None:
    assert match_value(name, values) == expected


def test_decode_jwt_rejects_non_tokens() -> None:
    assert decode_jwt(jwt("a")) is not None
    assert decode_jwt("abc.def.ghi") is None and decode_jwt("eyJhbGciOi.x") is None


def test_requests_fill_paths_and_apply_credentials(spec: Spec) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    op = spec.route("GET", "/items/{item_id}")
    assert op is not None
    alice = ctx.identities[0]
    req = ctx.request(op, {"id": 5}, identity=alice)
    assert req is not None and req.path == "/items/5" and req.headers["Authorization"].startswith("Bearer ")
    assert ctx.request(op, {}) is None  # no value for the path parameter
    search = spec.route("GET", "/search")
    assert search is not None
    r = ctx.request(search, {})
    assert r is not None and r.query[0][0] == "q"
    create = spec.route("POST", "/items")
    assert create is not None
    body = ctx.request(create, {})
    assert body is not None and isinstance(body.json, dict) and "id" not in body.json and "name" in body.json


def test_ownership(spec: Spec) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"bob={jwt('bob')}")
    alice, bob = ctx.identities
    lst = spec.route("GET", "/items")
    assert lst is not None
    ctx.remember(alice, lst, {"items": [{"id": 1, "owner": "alice"}, {"id": 2, "owner": "carol"}, {"id": 3, "owner": "carol"}]})
    ctx.remember(bob, lst, {"items": [{"id": 3, "owner": "carol"}]})
    owned = {o.values["id"] for o in ctx.owned_by(alice)}
    assert owned == {1, 2}  # 1 by owner field, 2 listed only for alice; 3 was shown to bob too
    assert ctx.seen_by(bob, ctx.objects[2]) and not ctx.seen_by(bob, ctx.objects[0])
