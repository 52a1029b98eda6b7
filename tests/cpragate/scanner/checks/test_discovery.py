from __future__ import annotations

from cpragate.openapi import Spec
from cpragate.scanner.checks import discovery
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, bearer_user, jwt, make_ctx, ok, run_check


def test_lists_reads_and_creates_are_remembered_with_their_owner(spec: Spec) -> None:
    def api(req: HttpRequest) -> HttpResponse:
        user = bearer_user(req)
        if req.method == "GET" and req.path == "/items":
            return ok({"items": [{"id": 10 if user == "alice" else 20, "owner": user, "name": "n"}]})
        if req.method == "POST" and req.path == "/items":
            return ok({"id": 30 if user == "alice" else 40, "owner": user}, 201, {"location": "/items/30"})
        return HttpResponse(404)

    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"bob={jwt('bob')}")
    run_check(discovery.run, ctx, FakeTarget(api))
    alice = ctx.identities[0]
    owned = {o.values["id"]: o for o in ctx.owned_by(alice)}
    assert set(owned) == {10, 30}
    assert owned[30].created and owned[30].item_path == "/items/30" and owned[30].values["name"].startswith("cpgscan")
    assert {r.op.operation_id for r in ctx.recorded} >= {"listItems", "createItem"}


def test_destructive_and_login_posts_are_not_used_to_create(spec: Spec) -> None:
    target = FakeTarget(lambda r: HttpResponse(401))
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    run_check(discovery.run, ctx, target)
    assert not any(r.path == "/login" for r in target.sent)
    assert all(r.method in ("GET", "POST") for r in target.sent) and not ctx.objects
