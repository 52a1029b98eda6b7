from __future__ import annotations

from pathlib import Path

import pytest

from cpragate.openapi import Spec, load_spec
from cpragate.scanner import runner
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import Burst, CanaryPoll, CheckGen, HttpRequest, HttpResponse, Severity, TlsProbe
from cpragate.testing.scanner import FakeTarget, make_ctx


class _Canary:
    def poll(self, token: str, wait: float = 1.0) -> list[str]:
        return [f"/{token}"] if token == "seen" else []


def test_drive_answers_every_kind_of_probe() -> None:
    got: list[object] = []

    def check() -> CheckGen:
        got.append((yield HttpRequest("GET", "/a")))
        got.append((yield TlsProbe("TLSv1")))
        got.append((yield CanaryPoll("seen", 0)))
        got.append((yield Burst((HttpRequest("GET", "/b"), HttpRequest("GET", "/c")))))

    target = FakeTarget(lambda r: HttpResponse(200 if r.path == "/a" else 204), tls={"TLSv1": True})
    runner.drive(check(), target, _Canary())
    assert got[0] == HttpResponse(200) and got[1] is True and got[2] == ["/seen"]
    assert [r.status for r in got[3]] == [204, 204]  # type: ignore[attr-defined]
    assert [r.path for r in target.sent] == ["/a", "/b", "/c"]


def test_a_failing_check_becomes_a_note_unless_strict(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: ScanContext) -> CheckGen:
        yield HttpRequest("GET", "/x")
        raise KeyError("bug")

    def finds(ctx: ScanContext) -> CheckGen:
        ctx.report("t", "API8:2023", 1, Severity.LOW, "low", None, "", "fix")
        ctx.report("u", "API8:2023", 1, Severity.HIGH, "high", None, "", "fix")
        yield from ()

    monkeypatch.setattr(runner, "CHECKS", (("discovery", finds), ("auth", boom)))
    target = FakeTarget(lambda r: HttpResponse(404))
    result = runner.run_checks(make_ctx(spec), target)
    assert [f.check for f in result.findings] == ["u", "t"]  # most severe first
    assert result.requests == 1 and any("auth: the check stopped early (KeyError)" in n for n in result.notes)
    with pytest.raises(KeyError):
        runner.run_checks(make_ctx(spec), target, strict=True)
    only = runner.run_checks(make_ctx(spec), target, only=["bola"])
    assert only.checks == ["discovery"]  # discovery always runs; auth was not selected


LIBRARY = """
openapi: 3.0.1
info: {title: library, version: "1"}
servers: [{url: "http://localhost:5000"}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
paths:
  /createdb:
    get: {summary: Creates and populates the database, responses: {"200": {description: ok}}}
  /users/v1:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  users: {type: array, items: {type: object, properties: {username: {type: string}, email: {type: string}}}}
  /users/v1/_debug:
    get: {responses: {"200": {description: ok}}}
  /users/v1/register:
    post:
      requestBody: {content: {application/json: {schema: {type: object, properties: {username: {type: string}, password: {type: string}, email: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /users/v1/login:
    post:
      requestBody: {content: {application/json: {schema: {type: object, properties: {username: {type: string}, password: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /users/v1/{username}:
    get:
      parameters: [{name: username, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /books/v1:
    get: {responses: {"200": {description: ok}}}
    post:
      security: [{bearerAuth: []}]
      requestBody: {content: {application/json: {schema: {type: object, properties: {book_title: {type: string}, secret: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /books/v1/{book_title}:
    get:
      security: [{bearerAuth: []}]
      parameters: [{name: book_title, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"""


class Library:
    """A small JWT API shaped like the public training APIs (users, books, a debug dump, a
    database reset), with their usual flaws -- not the repository's example API."""

    def __init__(self) -> None:
        import sqlite3

        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE users (username TEXT, password TEXT, email TEXT, admin INTEGER)")
        self.db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)",
                            [("name1", "pass1", "mail1@mail.com", 0), ("name2", "pass2", "mail2@mail.com", 0),
                             ("admin", "pass1", "admin@mail.com", 1)])  # fmt: skip
        self.books: dict[str, dict[str, str]] = {"bookTitle77": {"book_title": "bookTitle77", "secret": "s1", "user": "name1"}}
        self.reset_called = False

    def token(self, user: str) -> str:
        from cpragate.scanner import jwtutil

        return jwtutil.encode_hs({"alg": "HS256", "typ": "JWT"}, {"sub": user, "exp": 4102444800, "iat": 1}, "random")

    def user_of(self, req: HttpRequest) -> str | None:
        from cpragate.scanner import jwtutil

        tok = req.headers.get("Authorization", "")[7:]
        if not tok or jwtutil.crack(tok, ["random"]) != "random":
            return None
        import base64
        import json

        return str(json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "==")).get("sub"))

    def __call__(self, req: HttpRequest) -> HttpResponse:
        import sqlite3

        try:
            return self.handle(req)
        except (sqlite3.Error, KeyError, TypeError, ValueError) as exc:
            return HttpResponse(500, {}, f"{type(exc).__name__}: {exc}".encode())

    def handle(self, req: HttpRequest) -> HttpResponse:
        import json
        import sqlite3

        from cpragate.testing.scanner import ok

        path, body = req.path, json.loads(req.content() or b"null")
        if path == "/createdb":
            self.reset_called = True
            return ok({"message": "Database populated."})
        if path == "/users/v1":
            return ok({"users": [{"username": r[0], "email": r[2]} for r in self.db.execute("SELECT * FROM users")]})
        if path == "/users/v1/_debug":
            return ok({"users": [{"username": r[0], "password": r[1], "email": r[2], "admin": bool(r[3])} for r in self.db.execute("SELECT * FROM users")]})
        if path == "/users/v1/register" and req.method == "POST":
            self.db.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (body["username"], body["password"], body["email"], int(bool(body.get("admin")))))
            return ok({"message": "Successfully registered. Login to receive an auth token.", "status": "success"})
        if path == "/users/v1/login" and req.method == "POST":
            row = self.db.execute("SELECT * FROM users WHERE username = ?", (body.get("username"),)).fetchone()
            if row is None:
                return ok({"status": "fail", "message": "Username does not exist"})  # 200, like some training APIs
            if row[1] != body.get("password"):
                return ok({"status": "fail", "message": "Password is not correct for the given username."})
            return ok({"auth_token": self.token(row[0]), "message": "Successfully logged in.", "status": "success"})
        if path.startswith("/users/v1/"):
            name = path.rsplit("/", 1)[1]
            from urllib.parse import unquote

            try:
                row = self.db.execute(f"SELECT * FROM users WHERE username = '{unquote(name)}'").fetchone()
            except sqlite3.OperationalError as exc:
                return HttpResponse(500, {}, f"sqlite3.OperationalError: {exc}".encode())
            return ok({"username": row[0], "email": row[2]}) if row else ok({"status": "fail", "message": "User not found"}, 404)
        user = self.user_of(req)
        if path == "/books/v1" and req.method == "GET":
            return ok({"Books": [{"book_title": b["book_title"], "user": b["user"]} for b in self.books.values()]})
        if user is None:
            return ok({"status": "fail", "message": "Invalid token."}, 401)
        if path == "/books/v1" and req.method == "POST":
            self.books[body["book_title"]] = {"book_title": body["book_title"], "secret": body["secret"], "user": user}
            return ok({"message": "Book has been added.", "status": "success"})
        if path.startswith("/books/v1/"):
            book = self.books.get(path.rsplit("/", 1)[1])
            return ok({"book_title": book["book_title"], "owner": book["user"], "secret": book["secret"]}) if book else ok({}, 404)
        return HttpResponse(404)


def test_an_api_shaped_unlike_the_example(tmp_path: Path) -> None:
    """Nothing is tuned to the repository's example: a users/books API with login tokens in
    ``auth_token``, a debug dump, a DB reset GET and string ids is scanned from its spec."""
    (tmp_path / "lib.yaml").write_text(LIBRARY)
    spec = load_spec(tmp_path / "lib.yaml")
    api = Library()
    ctx = make_ctx(spec, f"a={api.token('name1')}", f"b={api.token('name2')}", target="http://localhost:5000",
                   canary_url="http://127.0.0.1:1")  # fmt: skip
    target = FakeTarget(api)
    result = runner.run_checks(ctx, target, strict=True)
    found = {f.check for f in result.findings}
    assert {"bola", "credential-exposure", "mass-assignment", "jwt-weak-secret", "user-enumeration", "sql-injection",
            "no-rate-limit", "no-login-throttling", "plain-http"} <= found, sorted(found)  # fmt: skip
    assert not api.reset_called and not any(r.path == "/createdb" for r in target.sent)  # destructive GET never sent
    bola = next(f for f in result.findings if f.check == "bola")
    assert bola.operation == "GET /books/v1/{book_title}" and bola.severity is Severity.HIGH


GARAGE = """
openapi: 3.0.1
info: {title: garage, version: "1"}
security: [{bearerAuth: []}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
paths:
  /identity/api/auth/login:
    post:
      security: []
      requestBody: {content: {application/json: {schema: {type: object, properties: {email: {type: string}, password: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /identity/api/v2/user/dashboard:
    get: {responses: {"200": {description: ok}}}
  /identity/api/v2/vehicle/vehicles:
    get: {responses: {"200": {description: ok}}}
  /identity/api/v2/vehicle/{vehicleId}/location:
    get:
      parameters: [{name: vehicleId, in: path, required: true, schema: {type: string, example: 0be319f7-3c5c-4a1b-8b5e-cd2f5f2b1a3c}}]
      responses: {"200": {description: ok}}
  /community/api/v2/coupon/validate-coupon:
    post:
      requestBody: {content: {application/json: {schema: {type: object, properties: {coupon_code: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /workshop/api/merchant/contact_mechanic:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {mechanic_api: {type: string, example: "http://localhost:8000/api/mechanic/receive_report"}, problem_details: {type: string}}}
      responses: {"200": {description: ok}}
"""


class Garage:
    """A vehicles/community/workshop API with RS256-looking opaque tokens, uuid sub-resources,
    a coupon check that passes its input to a document query, and a webhook it calls."""

    def __init__(self) -> None:
        import uuid

        self.tokens: dict[str, str] = {}
        self.vehicles = {e: {"id": i, "uuid": str(uuid.uuid4()), "vin": f"7ABCD{i}EFG", "owner": e}
                         for i, e in enumerate(("adam007@example.com", "pogba006@example.com"), 1)}  # fmt: skip
        self.fetched: list[str] = []

    def token(self, email: str) -> str:
        from cpragate.testing.scanner import b64

        tok = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64({'sub': email, 'role': 'user', 'exp': 4102444800})}.c2lnbmF0dXJl"
        self.tokens[tok] = email
        return tok

    def poll(self, token: str, wait: float = 1.0) -> list[str]:
        return [u for u in self.fetched if token in u]

    def __call__(self, req: HttpRequest) -> HttpResponse:
        import json

        from cpragate.testing.scanner import ok

        try:
            body = json.loads(req.content() or b"null")
        except ValueError:
            return ok({"message": "bad request"}, 400)
        if req.path == "/identity/api/auth/login":
            return ok({"message": "Invalid Credentials"}, 401)
        user = self.tokens.get(req.headers.get("Authorization", "")[7:])
        if user is None:
            return ok({"message": "Invalid Token"}, 401)
        if req.path == "/identity/api/v2/user/dashboard":
            return ok({"id": 1, "email": user, "name": user.split("@")[0]})
        if req.path == "/identity/api/v2/vehicle/vehicles":
            return ok([self.vehicles[user]])
        if req.path.endswith("/location"):
            vid = req.path.split("/")[-2]
            v = next((v for v in self.vehicles.values() if v["uuid"] == vid), None)  # no owner check
            if v is None:
                return ok({"message": "Invalid vehicle"}, 404)
            return ok({"carId": v["uuid"], "fullName": "Adam Smith", "email": v["owner"],
                       "vehicleLocation": {"latitude": "37.746880", "longitude": "-84.301460"}})  # fmt: skip
        if req.path.endswith("/validate-coupon"):
            code = (body or {}).get("coupon_code")
            if isinstance(code, dict) or code == "TRAC075":  # {"$ne": ...} matches the first coupon
                return ok({"coupon_code": "TRAC075", "amount": "75"})
            return ok({"message": "Invalid coupon"}, 422)
        if req.path.endswith("/contact_mechanic"):
            self.fetched.append(str((body or {}).get("mechanic_api")))
            return ok({"response_from_mechanic_api": {"status": 200}})
        return HttpResponse(404)


def test_an_api_with_uuid_sub_resources_coupons_and_webhooks(tmp_path: Path) -> None:
    (tmp_path / "garage.yaml").write_text(GARAGE)
    spec = load_spec(tmp_path / "garage.yaml")
    api = Garage()
    ctx = make_ctx(spec, f"adam={api.token('adam007@example.com')}", f"pogba={api.token('pogba006@example.com')}",
                   target="https://garage.example", canary_url="http://127.0.0.1:1")  # fmt: skip
    result = runner.run_checks(ctx, FakeTarget(api), canary=api, strict=True)
    got = {(f.check, f.operation) for f in result.findings}
    assert {("bola", "GET /identity/api/v2/vehicle/{vehicleId}/location"),
            ("nosql-injection", "POST /community/api/v2/coupon/validate-coupon"),
            ("ssrf", "POST /workshop/api/merchant/contact_mechanic")} <= got, sorted(got)  # fmt: skip
    assert not any(f.check == "jwt-weak-secret" for f in result.findings)  # RS256: nothing to crack
