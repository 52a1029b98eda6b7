"""A deliberately vulnerable example API and its fixed twin, for testing ``cpragate scan``.

    with VulnApi(fixed=False) as api:         # plain HTTP on 127.0.0.1, a free port
        api.url, api.spec_path
        token = api.login("alice", "alice-Passw0rd!")

Both serve the spec ``vulnapi-openapi.yaml`` (notes, users, products, a link preview, an
admin list) from a stdlib HTTP server on a thread, over loopback only. Users ``alice``,
``bob`` (role ``user``) and ``root`` (``admin``) exist at start; passwords are
``<name>-Passw0rd!``.

Flaws planted in the vulnerable mode (``fixed=False``), by OWASP API Top 10 (2023):

==========  ==============================================================================
API1        ``GET/PUT/DELETE /api/v1/notes/{note_id}`` never checks the note's owner.
API2        ``GET /api/v1/users/{username}`` answers without a token; tokens with
            ``alg: none`` and with the signature stripped are accepted; ``exp`` is not
            checked; the HS256 secret is the dictionary word ``secret123``; the token is
            also accepted as ``?access_token=``; login says ``no such user`` (404) for
            unknown names and ``wrong password`` (401) otherwise.
API3        ``/api/v1/users/me`` also returns ``password_hash`` and ``ssn`` (undeclared);
            registration stores a client-sent ``role`` (mass assignment).
API4        no rate limiting at all; ``/api/v1/products?limit=`` returns any number of
            items (the spec's maximum is 50; 120 products exist); logins not throttled.
API5        ``GET /api/v1/admin/users`` (tag ``admin``) is callable by any user.
API7        ``POST /api/v1/link-preview`` fetches the given URL (loopback hosts only, so the
            test server cannot be used against anything else).
API8        plain HTTP; no HSTS/nosniff/no-store; CORS reflects any Origin with
            credentials; a malformed JSON body answers 500 with a Python traceback;
            ``Server`` names the Python version.
API9        ``/api/v0/notes`` (an old version: every user's notes, no token) and ``/debug``
            (environment dump) are served but not in the spec.
Injection   ``/api/v1/products/search?q=`` puts ``q`` into SQL by string formatting.
==========  ==============================================================================

The fixed twin (``fixed=True``) serves HTTPS with the given certificate, checks owners
(404), verifies HS256 with a random 256-bit key, ``exp`` and the header only, answers
every failed login alike, returns only declared properties, refuses undeclared body
properties (400), rate-limits each client per route (token bucket: 20 at once, 10/s; logins 10 at once, 2/s per address), refuses
``limit`` > 50, requires ``role: admin`` for admin operations, refuses non-allow-listed
URLs, sends security headers, answers CORS only for its own origin, answers errors
generically, serves nothing undocumented, and binds SQL parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import ssl
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["SPEC_PATH", "VulnApi"]

SPEC_PATH = Path(__file__).with_name("vulnapi-openapi.yaml")
_WEAK_SECRET = "secret123"  # noqa: S105 - planted: a dictionary word as the HS256 key
_NOTE_FIELDS = ("id", "owner", "owner_email", "title", "body")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _Bucket:
    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.level: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            tokens, at = self.level.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens < 1:
                self.level[key] = (tokens, now)
                return False
            self.level[key] = (tokens - 1, now)
            return True


class VulnApi:
    """The example API; ``fixed`` selects the twin. Use as a context manager."""

    def __init__(self, *, fixed: bool = False, host: str = "127.0.0.1", port: int = 0,
                 cert_file: str | None = None, key_file: str | None = None) -> None:  # fmt: skip
        self.fixed = fixed
        self.secret = secrets.token_urlsafe(32) if fixed else _WEAK_SECRET
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        self.next_user = 1
        self.next_note = 1
        self.bucket = _Bucket(20, 10)
        self.login_bucket = _Bucket(10, 2)
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        self.db.executemany("INSERT INTO products (name, price) VALUES (?, ?)",
                            [(f"product {i:03d}", round(3 + i * 0.75, 2)) for i in range(1, 121)])  # fmt: skip
        for i, (name, role, ssn) in enumerate((("alice", "user", "536-22-8741"), ("bob", "user", "489-36-5012"),
                                               ("root", "admin", "212-09-7734"))):  # fmt: skip
            self._add_user(name, f"{name}@example.org", f"{name}-Passw0rd!", role, ssn)
            self._add_note(name, f"{name}'s first note", f"Call {name} back at +1 415-555-01{i:02d}.")
        self.server = _QuietServer((host, port), self._handler())
        self.server.daemon_threads = True
        scheme = "http"
        if cert_file and key_file:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert_file, key_file)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{scheme}://{'localhost' if scheme == 'https' else host}:{self.port}"
        self.spec_path = SPEC_PATH
        self._thread = threading.Thread(target=self.server.serve_forever, name="vulnapi", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> VulnApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.db.close()

    # ------------------------------------------------------------------ data
    def _add_user(self, name: str, email: str, password: str, role: str, ssn: str | None = None) -> dict[str, Any]:
        salt = secrets.token_hex(8)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
        user = {"id": self.next_user, "username": name, "email": email, "role": role,
                "password_hash": f"pbkdf2:sha256:1000${salt}${digest}", "ssn": ssn or "671-42-9903"}  # fmt: skip
        self.next_user += 1
        self.users[name] = user
        return user

    def _add_note(self, owner: str, title: str, body: str) -> dict[str, Any]:
        note = {"id": self.next_note, "owner": owner, "owner_email": self.users[owner]["email"], "title": title, "body": body}
        self.next_note += 1
        self.notes[note["id"]] = note
        return note

    def _password_ok(self, user: dict[str, Any], password: str) -> bool:
        _, _, rest = user["password_hash"].partition("$")
        salt, _, digest = rest.partition("$")
        return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex(), digest)

    def issue(self, username: str, lifetime: int = 3600) -> str:
        user = self.users[username]
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        now = int(time.time())
        body = _b64(json.dumps({"sub": username, "role": user["role"], "iat": now, "exp": now + lifetime}).encode())
        sig = _b64(hmac.new(self.secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def login(self, username: str, password: str) -> str:
        user = self.users.get(username)
        if user is None or not self._password_ok(user, password):
            raise ValueError("bad credentials")
        return self.issue(username)

    def verify(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_b64d(parts[0]))
            claims = json.loads(_b64d(parts[1]))
        except ValueError:
            return None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        alg = str(header.get("alg", ""))
        good = _b64(hmac.new(self.secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if self.fixed:
            if alg != "HS256" or not hmac.compare_digest(good, parts[2]):
                return None
            if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
                return None
        else:
            # Planted: `none` trusted, a missing signature skips verification, exp ignored.
            if alg.lower() != "none" and parts[2] and not hmac.compare_digest(good, parts[2]):
                return None
        user = self.users.get(str(claims.get("sub")))
        return user

    # ------------------------------------------------------------------ http
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # head and body leave in one write (no Nagle/delayed-ACK stall per answer)
            server_version = "notes-api" if api.fixed else "BaseHTTP/0.6"
            sys_version = "" if api.fixed else "Python/3.11.2"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self, status: int, doc: Any = None, extra: dict[str, str] | None = None) -> None:
                body = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                if doc is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if api.fixed:
                    self.send_header("Strict-Transport-Security", "max-age=31536000")
                    self.send_header("X-Content-Type-Options", "nosniff")
                    self.send_header("Cache-Control", "no-store")
                origin = self.headers.get("Origin")
                if origin and not api.fixed:
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _dispatch(self) -> None:
                try:
                    self._route()
                except Exception:
                    if api.fixed:
                        self._answer(500, {"error": "internal error"})
                    else:
                        self._answer(500, {"error": "internal error", "trace": traceback.format_exc()})

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(n, 1 << 20)) if n else b""
                if not raw:
                    return None
                if api.fixed:
                    try:
                        return json.loads(raw)
                    except ValueError:
                        raise _Bad("the body is not JSON") from None
                return json.loads(raw)  # planted: the traceback of a bad body reaches the client

            def _caller(self, query: dict[str, list[str]]) -> dict[str, Any] | None:
                auth = self.headers.get("Authorization") or ""
                token = auth[7:] if auth.lower().startswith("bearer ") else ""
                if not token and not api.fixed:
                    token = (query.get("access_token") or [""])[0]  # planted: token in the URL
                return api.verify(token) if token else None

            def _route(self) -> None:
                u = urlsplit(self.path)
                path, query = u.path, parse_qs(u.query)
                key = f"{self.headers.get('Authorization') or self.client_address[0]} {path}"
                limited = api.fixed and (
                    not api.bucket.take(key) or (path == "/api/v1/auth/login" and not api.login_bucket.take(self.client_address[0])))
                if limited:
                    self._answer(429, {"error": "too many requests"}, {"Retry-After": "1"})
                    return
                try:
                    self._routes(self.command, path, query)
                except _Bad as e:
                    self._answer(400, {"error": str(e)})

            def _routes(self, method: str, path: str, query: dict[str, list[str]]) -> None:
                if path == "/health" and method == "GET":
                    return self._answer(200, {"status": "ok"})
                if path == "/api/v1/auth/register" and method == "POST":
                    return self._register()
                if path == "/api/v1/auth/login" and method == "POST":
                    return self._login()
                if not api.fixed:
                    if path == "/debug":
                        return self._answer(200, {"env": {"SECRET_KEY": api.secret, "DB": "sqlite://:memory:"}, "debug": True})
                    if path == "/api/v0/notes":
                        return self._answer(200, {"items": [dict(n) for n in api.notes.values()]})
                    m = re.fullmatch(r"/api/v1/users/([^/]+)", path)
                    if m and m.group(1) != "me" and method == "GET":  # planted: no token needed
                        return self._public_user(m.group(1))
                user = self._caller(query)
                if user is None:
                    return self._answer(401, {"error": "authentication required"}, {"WWW-Authenticate": "Bearer"})
                if path == "/api/v1/users/me" and method == "GET":
                    if api.fixed:
                        return self._answer(200, {k: user[k] for k in ("id", "username", "email", "role")})
                    return self._answer(200, dict(user))  # planted: password_hash and ssn too
                m = re.fullmatch(r"/api/v1/users/([^/]+)", path)
                if m and method == "GET":
                    return self._public_user(m.group(1))
                if path == "/api/v1/notes":
                    return self._notes(method, user, query)
                m = re.fullmatch(r"/api/v1/notes/(\d+)", path)
                if m:
                    return self._note(method, user, int(m.group(1)))
                if path == "/api/v1/products" and method == "GET":
                    return self._products(query)
                if path == "/api/v1/products/search" and method == "GET":
                    return self._search(query)
                if path == "/api/v1/link-preview" and method == "POST":
                    return self._preview()
                if path == "/api/v1/admin/users" and method == "GET":
                    if api.fixed and user["role"] != "admin":
                        return self._answer(403, {"error": "forbidden"})
                    return self._answer(200, {"items": [{k: u[k] for k in ("id", "username", "email", "role")} for u in api.users.values()]})
                return self._answer(404, {"error": "not found"})

            def _public_user(self, name: str) -> None:
                u = api.users.get(name)
                if u is None:
                    return self._answer(404, {"error": "not found"})
                return self._answer(200, {"id": u["id"], "username": u["username"]})

            def _register(self) -> None:
                body = self._body()
                if not isinstance(body, dict):
                    raise _Bad("a JSON object is required")
                allowed = {"username", "email", "password"}
                if api.fixed and set(body) - allowed:
                    raise _Bad("unknown properties")
                name, email, pw = body.get("username"), body.get("email"), body.get("password")
                if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_]{3,40}", name) and isinstance(email, str)
                        and isinstance(pw, str) and len(pw) >= 8):  # fmt: skip
                    raise _Bad("username, email and password are required")
                with api.lock:
                    if name in api.users:
                        return self._answer(409, {"error": "taken"})
                    role = str(body.get("role", "user")) if not api.fixed else "user"  # planted: mass assignment
                    u = api._add_user(name, email, pw, role)
                if api.fixed:
                    return self._answer(201, {"id": u["id"], "username": name})
                return self._answer(201, {k: u[k] for k in ("id", "username", "email", "role")})

            def _login(self) -> None:
                body = self._body()
                if not isinstance(body, dict):
                    raise _Bad("a JSON object is required")
                name, pw = body.get("username"), body.get("password")
                user = api.users.get(name) if isinstance(name, str) else None
                if user is None:
                    if api.fixed:
                        return self._answer(401, {"error": "invalid credentials"})
                    return self._answer(404, {"error": f"no such user: {name}"})  # planted: enumeration
                if not isinstance(pw, str) or not api._password_ok(user, pw):
                    if api.fixed:
                        return self._answer(401, {"error": "invalid credentials"})
                    return self._answer(401, {"error": "wrong password"})
                return self._answer(200, {"access_token": api.issue(user["username"]), "token_type": "bearer"})

            def _notes(self, method: str, user: dict[str, Any], query: dict[str, list[str]]) -> None:
                if method == "GET":
                    mine = [dict(n) for n in api.notes.values() if n["owner"] == user["username"]]
                    return self._answer(200, {"items": mine[:50], "total": len(mine)})
                if method == "POST":
                    body = self._body()
                    if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not isinstance(body.get("body", ""), str):
                        raise _Bad("title and body are required")
                    if api.fixed and set(body) - {"title", "body"}:
                        raise _Bad("unknown properties")
                    with api.lock:
                        note = api._add_note(user["username"], body["title"][:100], str(body.get("body", ""))[:2000])
                    return self._answer(201, note, {"Location": f"/api/v1/notes/{note['id']}"})
                return self._answer(405, {"error": "method not allowed"})

            def _note(self, method: str, user: dict[str, Any], note_id: int) -> None:
                note = api.notes.get(note_id)
                if note is None or (api.fixed and note["owner"] != user["username"]):  # planted: no owner check
                    return self._answer(404, {"error": "not found"})
                if method == "GET":
                    return self._answer(200, {k: note[k] for k in _NOTE_FIELDS})
                if method == "PUT":
                    body = self._body()
                    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
                        raise _Bad("title is required")
                    if api.fixed and set(body) - {"title", "body"}:
                        raise _Bad("unknown properties")
                    note["title"], note["body"] = body["title"][:100], str(body.get("body", ""))[:2000]
                    return self._answer(200, {k: note[k] for k in _NOTE_FIELDS})
                if method == "DELETE":
                    with api.lock:
                        api.notes.pop(note_id, None)
                    return self._answer(204)
                return self._answer(405, {"error": "method not allowed"})

            def _products(self, query: dict[str, list[str]]) -> None:
                raw = (query.get("limit") or ["20"])[0]
                if not raw.isdigit():
                    raise _Bad("limit must be an integer")
                limit = int(raw)
                if api.fixed and not 1 <= limit <= 50:
                    raise _Bad("limit must be between 1 and 50")
                rows = api.db.execute("SELECT id, name, price FROM products ORDER BY id LIMIT ?", (limit,)).fetchall()  # planted: no cap
                return self._answer(200, {"items": [{"id": r[0], "name": r[1], "price": r[2]} for r in rows], "limit": limit})

            def _search(self, query: dict[str, list[str]]) -> None:
                q = (query.get("q") or [""])[0]
                if api.fixed:
                    if len(q) > 60:
                        raise _Bad("q is too long")
                    rows = api.db.execute("SELECT id, name, price FROM products WHERE name LIKE ? LIMIT 50", (f"%{q}%",)).fetchall()
                else:
                    sql = f"SELECT id, name, price FROM products WHERE name LIKE '%{q}%' LIMIT 50"  # noqa: S608 - planted SQL injection
                    try:
                        rows = api.db.execute(sql).fetchall()
                    except sqlite3.Error as exc:
                        return self._answer(500, {"error": f"sqlite3.OperationalError: {exc}", "query": sql})
                return self._answer(200, {"items": [{"id": r[0], "name": r[1], "price": r[2]} for r in rows]})

            def _preview(self) -> None:
                body = self._body()
                url = body.get("url") if isinstance(body, dict) else None
                if not isinstance(url, str):
                    raise _Bad("url is required")
                u = urlsplit(url)
                if api.fixed:
                    if u.scheme != "https" or u.hostname not in ("example.com", "www.example.com"):
                        raise _Bad("only https://example.com pages can be previewed")
                    return self._answer(200, {"title": "Example Domain", "status": 200})
                if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
                    return self._answer(200, {"title": "", "status": 0})  # loopback only: never an open proxy
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - planted SSRF (loopback only)
                        text = r.read(4096).decode("utf-8", "replace")
                        status = r.status
                except OSError as exc:
                    text, status = "", getattr(exc, "code", 0) or 0
                m = re.search(r"<title>(.*?)</title>", text, re.S)
                return self._answer(200, {"title": m.group(1) if m else "", "status": status})

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Failed handshakes and dropped connections (the scanner probes for them) are not printed."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class _Bad(Exception):
    """A 400 with this message."""
