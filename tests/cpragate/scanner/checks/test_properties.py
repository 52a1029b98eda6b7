from __future__ import annotations

import json

import pytest

from cpragate.openapi import Spec
from cpragate.scanner.checks import discovery, properties
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, bearer_user, jwt, make_ctx, ok, run_check


class Items:
    def __init__(self, keeps_extra: bool, leaks: bool) -> None:
        self.keeps_extra, self.leaks = keeps_extra, leaks
        self.items: dict[int, dict[str, object]] = {}

    def __call__(self, req: HttpRequest) -> HttpResponse:
        user = bearer_user(req)
        if user is None:
            return HttpResponse(401)
        if req.path == "/items" and req.method == "POST":
            body = json.loads(req.content() or b"{}")
            item: dict[str, object] = {"id": len(self.items) + 1, "owner": user, "name": body.get("name")}
            if self.keeps_extra:
                item.update({k: v for k, v in body.items() if k not in item})
            self.items[int(item["id"])] = item  # type: ignore[call-overload]
            return ok({"id": item["id"]}, 201)
        if req.path.startswith("/items/"):
            item = dict(self.items.get(int(req.path.rsplit("/", 1)[1]), {}))
            if self.leaks:
                item.update({"password_hash": "pbkdf2:sha256:1000$ab$cd", "ssn": "536-22-8741"})
            return ok(item) if item else HttpResponse(404)
        if req.path == "/items":
            return ok({"items": list(self.items.values())})
        return HttpResponse(404)


@pytest.mark.parametrize(("keeps", "leaks"), [(True, True), (False, False)])
def test_mass_assignment_and_exposure(spec: Spec, keeps: bool, leaks: bool) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    target = FakeTarget(Items(keeps, leaks))
    run_check(discovery.run, ctx, target)
    run_check(properties.run, ctx, target)
    run_check(properties.run_exposure, ctx, target)
    found = {f.check: f for f in ctx.findings}
    if not keeps:
        assert found == {}
        return
    ma = found["mass-assignment"]
    assert ma.severity.label == "high" and "role (read back)" in ma.detail and "is_admin (read back)" in ma.detail
    assert "owner (" not in ma.detail  # readOnly `owner` was sent too, but the API set its own value
    assert set(found) == {"mass-assignment", "credential-exposure", "excessive-data-exposure", "spi-exposure"}
    assert found["excessive-data-exposure"].severity.label == "high"  # an undeclared SSN
    evidence = " ".join(e.response for f in ctx.findings for e in f.evidence)
    assert "536-22-8741" not in evidence and "pbkdf2" not in evidence  # masked / removed


def test_masked_spi_is_not_reported(spec: Spec) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    op = spec.route("GET", "/items/{item_id}")
    assert op is not None
    req = HttpRequest("GET", "/items/1", identity="alice")
    ctx.record(op, req, ok({"id": 1, "name": "x", "owner": "alice"}))
    ctx.record(op, req, ok({"id": 1, "name": "x", "owner": "alice", "password": "***"}))
    run_check(properties.run_exposure, ctx, FakeTarget(lambda r: HttpResponse(404)))
    assert {f.check for f in ctx.findings} == {"excessive-data-exposure"}  # /password is undeclared, but masked
    assert ctx.findings[0].severity.label == "low"
