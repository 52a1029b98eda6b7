from __future__ import annotations

import pytest

from cpragate.openapi import Spec
from cpragate.scanner.checks import discovery, resources
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, jwt, make_ctx, ok, run_check


def api(bounded: bool, limited: bool) -> object:
    count = {"n": 0}

    def handle(req: HttpRequest) -> HttpResponse:
        count["n"] += req.burst
        if limited and count["n"] > 5:
            return HttpResponse(429, {"retry-after": "1"})
        if req.path == "/login":
            return ok({"error": "invalid"}, 401)
        if req.path == "/items":
            limit = int(dict(req.query).get("limit", "5"))
            if bounded and limit > 10:
                return ok({"error": "limit too large"}, 400)
            return ok({"items": [{"id": i} for i in range(min(limit, 300))]})
        return HttpResponse(404)

    return handle


@pytest.mark.parametrize(("bounded", "limited", "expected"), [
    (False, False, {"unbounded-page-size", "no-rate-limit", "no-login-throttling"}),
    (True, True, set()),
])
def test_page_size_and_burst(spec: Spec, bounded: bool, limited: bool, expected: set[str]) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}", burst=10)
    target = FakeTarget(api(bounded, limited))  # type: ignore[arg-type]
    run_check(discovery.run, ctx, target)
    run_check(resources.run, ctx, target)
    run_check(resources.run_rate_limit, ctx, target)
    assert {f.check for f in ctx.findings} == expected
    assert sum(1 for r in target.sent if r.burst) <= 20  # bounded: --burst for reads, the same for logins


def test_burst_zero_skips(spec: Spec) -> None:
    ctx = make_ctx(spec, burst=0)
    run_check(resources.run_rate_limit, ctx, FakeTarget(lambda r: ok({})))
    assert "not tested" in ctx.notes[0]
