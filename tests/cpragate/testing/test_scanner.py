from __future__ import annotations

from pathlib import Path

from cpragate.openapi import load_spec
from cpragate.scanner.context import decode_jwt
from cpragate.scanner.model import CheckGen, HttpRequest
from cpragate.testing.scanner import FakeTarget, bearer_user, jwt, make_ctx, ok, run_check


def test_fakes(tmp_path: Path) -> None:
    token = jwt("alice", exp=None)
    assert decode_jwt(token) == ({"alg": "HS256", "typ": "JWT"}, {"sub": "alice"})
    assert bearer_user(HttpRequest("GET", "/", headers={"Authorization": f"Bearer {jwt('bob')}"})) == "bob"
    assert bearer_user(HttpRequest("GET", "/", headers={"Authorization": "Bearer junk"})) is None
    (tmp_path / "s.yaml").write_text('openapi: 3.1.0\ninfo: {title: t, version: "1"}\npaths: {}\n')
    ctx = make_ctx(load_spec(tmp_path / "s.yaml"), f"alice={token}", burst=3)
    assert ctx.options.burst == 3 and ctx.identities[0].name == "alice"
    target = FakeTarget(lambda r: ok({"path": r.path}, 201), tls={"TLSv1": True})
    got = []

    def check(_: object) -> CheckGen:
        got.append((yield HttpRequest("GET", "/x")))

    run_check(check, ctx, target)  # type: ignore[arg-type]
    assert got[0].status == 201 and got[0].json() == {"path": "/x"} and [r.path for r in target.sent] == ["/x"]
    assert target.tls_probe("TLSv1") is True and target.tls_probe("TLSv1.1") is False
