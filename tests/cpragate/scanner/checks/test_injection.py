"""SQL/NoSQL probes against a real SQLite query built two ways."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cpragate.openapi import Spec
from cpragate.scanner.checks import discovery, injection
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.testing.scanner import FakeTarget, jwt, make_ctx, ok, run_check


def api(vulnerable: bool, errors: bool) -> object:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (name TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [("apple",), ("pear",)])

    def handle(req: HttpRequest) -> HttpResponse:
        if req.path == "/login":
            body = json.loads(req.content() or b"{}")
            if vulnerable and isinstance(body.get("username"), dict):
                return ok({"token": "eyJhbGciOiJIUzI1NiJ9.e30.x"})
            return ok({"error": "invalid"}, 401)
        if req.path != "/search":
            return HttpResponse(404)
        q = dict(req.query).get("q", "")
        try:
            if vulnerable:
                rows = db.execute(f"SELECT name FROM t WHERE name = '{q}'").fetchall()
            else:
                rows = db.execute("SELECT name FROM t WHERE name = ?", (q,)).fetchall()
        except sqlite3.Error as exc:
            return ok({"error": f"sqlite3.OperationalError: {exc}" if errors else "bad query"}, 500)
        return ok({"items": [r[0] for r in rows]})

    return handle


@pytest.mark.parametrize(("vulnerable", "errors", "expected"), [
    (True, True, {"sql-injection:GET /search", "nosql-injection:POST /login"}),
    (True, False, {"sql-injection:GET /search", "nosql-injection:POST /login"}),  # boolean-based without error text
    (False, True, set()),
])
def test_injection(spec: Spec, vulnerable: bool, errors: bool, expected: set[str]) -> None:
    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    target = FakeTarget(api(vulnerable, errors))  # type: ignore[arg-type]
    run_check(discovery.run, ctx, target)
    run_check(injection.run, ctx, target)
    assert {f"{f.check}:{f.operation}" for f in ctx.findings} == expected


@pytest.mark.parametrize(("mode", "expected"), [
    ("operator", {"nosql-injection:POST /items"}),
    ("sql", {"sql-injection:POST /items"}),
    ("safe", set()),
])
def test_json_body_properties(spec: Spec, mode: str, expected: set[str]) -> None:
    def handle(req: HttpRequest) -> HttpResponse:
        if req.method != "POST" or req.path != "/items":
            return HttpResponse(404)
        name = json.loads(req.content() or b"{}").get("name")
        if mode == "operator" and isinstance(name, dict):
            return ok({"valid": True})  # like a coupon lookup with {"$ne": null}
        if mode == "sql" and isinstance(name, str) and "'" in name:
            return ok({"error": "unrecognized token (sqlite3.OperationalError)"}, 500)
        return ok({"error": "no such coupon"}, 422)

    ctx = make_ctx(spec, f"alice={jwt('alice')}")
    run_check(injection.run, ctx, FakeTarget(handle))
    assert {f"{f.check}:{f.operation}" for f in ctx.findings} == expected
