from __future__ import annotations

import pytest

from cpragate.openapi import Spec
from cpragate.scanner.checks import bfla
from cpragate.testing.scanner import FakeTarget, bearer_user, jwt, make_ctx, ok, run_check


@pytest.mark.parametrize(("admin_only", "expected"), [(False, {"bfla"}), (True, set())])
def test_admin_operations_called_as_users(spec: Spec, admin_only: bool, expected: set[str]) -> None:
    def api(req):  # type: ignore[no-untyped-def]
        user = bearer_user(req)
        if req.path == "/admin/stats" and (user == "root" or not admin_only):
            return ok({"users": 3})
        return ok({"error": "forbidden"}, 403)

    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"root={jwt('root')}", admins=frozenset({"root"}))
    target = FakeTarget(api)
    run_check(bfla.run, ctx, target)
    assert {f.check for f in ctx.findings} == expected
    assert [bearer_user(r) for r in target.sent] == ["alice"]  # the admin identity is not used
    assert [op.operation_id for op in bfla.admin_operations(ctx)] == ["adminStats"]
