from __future__ import annotations

from pathlib import Path

from cpragate.openapi import load_spec
from cpragate.scanner.checks import inventory
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, make_ctx, ok, run_check

SPEC = """
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /api/v2/books: {get: {responses: {"200": {description: ok}}}}
"""


def test_old_versions_and_debug_paths(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    ctx = make_ctx(load_spec(tmp_path / "s.yaml"))

    def api(req: HttpRequest) -> HttpResponse:
        if req.path in ("/api/v1/books", "/.env", "/api/v2/books"):
            return ok({"items": [1, 2, 3]})
        return HttpResponse(404)

    run_check(inventory.run, ctx, FakeTarget(api))
    assert {(f.check, f.operation, f.severity.label) for f in ctx.findings} == {
        ("undocumented-version", "GET /api/v1/books", "medium"),
        ("undocumented-endpoint", "GET /.env", "high"),
    }


def test_a_catch_all_page_is_not_a_finding(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    ctx = make_ctx(load_spec(tmp_path / "s.yaml"))
    run_check(inventory.run, ctx, FakeTarget(lambda r: HttpResponse(200, {}, b"<html>app shell</html>")))
    assert ctx.findings == []


def test_version_variants() -> None:
    assert inventory.version_variants("/api/v1/x") == ["/api/v0/x", "/api/v2/x", "/api/v3/x"]
    assert inventory.version_variants("/x") == []
