from __future__ import annotations

import pytest

from cpragate.openapi import Spec
from cpragate.scanner.checks import bola, discovery
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, bearer_user, jwt, make_ctx, ok, run_check


class Notes:
    """Items owned by whoever created them; ``check_owner`` toggles the flaw."""

    def __init__(self, check_owner: bool) -> None:
        self.check_owner = check_owner
        self.items: dict[int, dict[str, object]] = {}

    def __call__(self, req: HttpRequest) -> HttpResponse:
        user = bearer_user(req)
        if user is None:
            return HttpResponse(401)
        if req.path == "/items" and req.method == "POST":
            n = len(self.items) + 1
            self.items[n] = {"id": n, "owner": user, "name": "x", "email": f"{user}.smith@example.org"}
            return ok(self.items[n], 201)
        if req.path == "/items":
            return ok({"items": [i for i in self.items.values() if i["owner"] == user]})
        if req.path.startswith("/items/"):
            item = self.items.get(int(req.path.rsplit("/", 1)[1]))
            if item is None or (self.check_owner and item["owner"] != user):
                return HttpResponse(404)
            if req.method == "DELETE":
                del self.items[int(item["id"])]  # type: ignore[call-overload]
                return HttpResponse(204)
            return ok(item)
        return HttpResponse(404)


@pytest.mark.parametrize("unsafe", [False, True])
def test_missing_owner_check_is_found(spec: Spec, unsafe: bool) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"bob={jwt('bob')}", unsafe_methods=unsafe)
    target = FakeTarget(Notes(check_owner=False))
    run_check(discovery.run, ctx, target)
    run_check(bola.run, ctx, target)
    found = {(f.check, f.operation, f.severity.label) for f in ctx.findings}
    assert ("bola", "GET /items/{item_id}", "high") in found  # the answer carries an e-mail address
    assert (("bola-write", "DELETE /items/{item_id}", "high") in found) is unsafe
    assert not any(r.method == "DELETE" for r in target.sent) or unsafe


def test_owner_check_means_no_finding(spec: Spec) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"bob={jwt('bob')}", unsafe_methods=True)
    target = FakeTarget(Notes(check_owner=True))
    run_check(discovery.run, ctx, target)
    run_check(bola.run, ctx, target)
    assert ctx.findings == []


def test_one_identity_is_a_note(spec: Spec) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    run_check(bola.run, ctx, FakeTarget(Notes(False)))
    assert ctx.findings == [] and "two identities" in ctx.notes[0]


def test_related() -> None:
    assert bola.related("/items/{id}", "/items") and bola.related("/users/{name}", "/users/me")
    assert not bola.related("/orders/{id}", "/items")
