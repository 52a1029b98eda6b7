from __future__ import annotations

from cpragate.openapi import Spec
from cpragate.scanner.checks import discovery, misconfig
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, jwt, make_ctx, ok, run_check

GOOD = {"strict-transport-security": "max-age=63072000", "x-content-type-options": "nosniff", "cache-control": "no-store"}


def careless(req: HttpRequest) -> HttpResponse:
    if req.url and req.url.startswith("http://"):
        return ok({"items": []})  # plain HTTP next to HTTPS
    if req.method == "POST":
        return HttpResponse(500, {}, b'Traceback (most recent call last):\n  File "/app/x.py", line 3')
    origin = req.headers.get("Origin")
    extra = {"access-control-allow-origin": origin, "access-control-allow-credentials": "true"} if origin else {}
    return ok({"items": [{"id": 1, "email": "jane.roe@example.org"}]}, headers={"server": "nginx/1.18.0", **extra})


def careful(req: HttpRequest) -> HttpResponse:
    if req.url and req.url.startswith("http://"):
        return HttpResponse(308, {"location": "https://x/"})
    if req.method == "POST":
        return ok({"type": "about:blank", "title": "Bad Request"}, 400)
    return ok({"items": [{"id": 1}]}, headers=GOOD)


def scan(spec: Spec, handler, tls: dict[str, bool]) -> set[str]:  # type: ignore[no-untyped-def]
    ctx = make_ctx(spec, f"alice={jwt('alice')}", target="https://api.example:443")
    target = FakeTarget(handler, tls)
    run_check(discovery.run, ctx, target)
    run_check(misconfig.run, ctx, target)
    return {f"{f.check}:{f.severity.label}" for f in ctx.findings}


def test_a_careless_deployment(spec: Spec) -> None:
    found = scan(spec, careless, {"TLSv1": True})
    assert found == {"plain-http:medium", "weak-tls:medium", "security-headers:low", "version-disclosure:low",
                     "cors-permissive:high", "verbose-errors:medium"}


def test_a_careful_deployment(spec: Spec) -> None:
    assert scan(spec, careful, {}) == set()


def test_http_target_is_high(spec: Spec) -> None:
    ctx = make_ctx(spec, target="http://api.example")
    run_check(misconfig.run, ctx, FakeTarget(careful))
    assert any(f.check == "plain-http" and f.severity.label == "high" for f in ctx.findings)
