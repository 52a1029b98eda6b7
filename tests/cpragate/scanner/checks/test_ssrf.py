from __future__ import annotations

import json
from pathlib import Path

from cpragate.openapi import load_spec
from cpragate.scanner.checks import ssrf
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, jwt, make_ctx, ok, run_check

SPEC = """
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /preview:
    post:
      requestBody: {content: {application/json: {schema: {properties: {link: {type: string}, note: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /img:
    get:
      parameters: [{name: src, in: query, schema: {type: string, format: uri}}, {name: w, in: query, schema: {type: integer}}]
      responses: {"200": {description: ok}}
"""


class Canary:
    def __init__(self) -> None:
        self.fetched: list[str] = []

    def poll(self, token: str, wait: float = 1.0) -> list[str]:
        return [u for u in self.fetched if token in u]


def test_url_inputs_are_probed_and_fetches_reported(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "s.yaml")
    canary = Canary()

    def api(req: HttpRequest) -> HttpResponse:
        if req.path == "/preview":
            canary.fetched.append(json.loads(req.content() or b"{}")["link"])  # the flaw: it fetches
        return ok({})

    ctx = make_ctx(spec, f"alice={jwt('alice')}", canary_url="http://127.0.0.1:1")
    run_check(ssrf.run, ctx, FakeTarget(api), canary)
    assert [(f.check, f.operation, f.key) for f in ctx.findings] == [("ssrf", "POST /preview", "link")]
    op = spec.route("GET", "/img")
    assert op is not None and ssrf.url_inputs(op) == [("query", "src")]


def test_without_canary_it_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    ctx = make_ctx(load_spec(tmp_path / "s.yaml"))
    target = FakeTarget(lambda r: ok({}))
    run_check(ssrf.run, ctx, target)
    assert target.sent == [] and "no canary" in ctx.notes[0]
