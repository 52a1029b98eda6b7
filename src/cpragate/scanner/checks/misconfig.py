"""API8 security misconfiguration.

* plain HTTP: a target served over ``http://`` is reported; for an ``https://`` target
  the same host is asked over plain HTTP on the target's port (and on 80 for a target on
  443) -- a 2xx there (not a redirect) is a finding;
* weak TLS: handshakes capped at TLS 1.0 and 1.1 (the runner does them);
* security headers: HSTS (HTTPS), ``X-Content-Type-Options: nosniff``, ``Cache-Control:
  no-store`` on answers with personal information; ``Server``/``X-Powered-By`` versions;
* CORS: a foreign ``Origin`` reflected (with credentials: high), or ``*``;
* verbose errors: a malformed JSON body and an unknown path, looking for stack traces,
  SQL and framework error text in the answer.
"""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit

from cpragate.scanner import specutil
from cpragate.scanner.context import Recorded, ScanContext
from cpragate.scanner.model import CheckGen, Evidence, HttpRequest, Severity, TlsProbe

__all__ = ["NAME", "STACK_TRACE", "run"]

NAME = "misconfig"
OWASP = "API8:2023"
STACK_TRACE = re.compile(
    r"(Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\bat [\w$.]+\([\w]+\.java:\d+\)|"
    r"\bat .+\.(js|ts):\d+:\d+\)|System\.\w+Exception|java\.lang\.\w+Exception|Werkzeug Debugger|"
    r"django\.\w+|sqlalchemy\.exc|psycopg2?\.|sqlite3\.\w+Error|SQLSTATE\[|ORA-\d{5}|PG::\w+|"
    r"MongoError|Fatal error: |Stack trace:|on line \d+ in |RuntimeException|NullPointerException|"
    r"\bdebug\s*=\s*true|\"stack\"\s*:\s*\")"
)
_EVIL = "https://evil.cpgscan.example"


def run(ctx: ScanContext) -> CheckGen:
    u = urlsplit(ctx.options.target)
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    sample = ctx.sample()
    yield from _transport(ctx, u.scheme, host, port, sample)
    _headers(ctx, u.scheme)
    if sample is not None:
        yield from _cors(ctx, sample)
    yield from _errors(ctx)


def _hostport(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _transport(ctx: ScanContext, scheme: str, host: str, port: int, sample: Recorded | None) -> CheckGen:
    if scheme == "http":
        ctx.report(
            "plain-http", OWASP, 319, Severity.HIGH, "The API is served over plain HTTP", None,
            f"The target {ctx.options.target} speaks HTTP without TLS: credentials and personal data cross the network in clear.",
            "Serve only HTTPS (TLS 1.2+) and redirect or refuse plain HTTP; at the gateway: a TLS listener and "
            "`redirect_to_https` on the plain one.",
            [(sample.request, sample.response, "sent in clear")] if sample else [],
            key="target", operation="* /", policy={"tls": True},
        )  # fmt: skip
        return
    path = sample.request.target() if sample else "/"
    ports = [port] + ([80] if port == 443 else [])
    for p in ports:
        req = HttpRequest("GET", path, url=f"http://{_hostport(host)}:{p}{path}")
        if sample is not None:
            req.headers = dict(sample.request.headers)
            req.identity = sample.request.identity
        resp = yield req
        if resp.ok:
            ctx.report(
                "plain-http", OWASP, 319, Severity.MEDIUM, "Plain HTTP is accepted next to HTTPS", None,
                f"http://{host}:{p} answered HTTP {resp.status} with API content instead of redirecting to HTTPS.",
                "Refuse or redirect (308) plain HTTP and send HSTS; at the gateway: `redirect_to_https` on the plain listener.",
                [(req, resp)], key=f"port-{p}", operation="* /", policy={"tls": True},
            )  # fmt: skip
    for version in ("TLSv1", "TLSv1.1"):
        ok = yield TlsProbe(version)
        if ok:
            ctx.report(
                "weak-tls", OWASP, 326, Severity.MEDIUM, f"{version.replace('v', ' ')} is accepted", None,
                f"A handshake limited to {version} succeeded: these versions are deprecated (RFC 8996).",
                "Accept TLS 1.2 and 1.3 only; at the gateway: `tls.min_version: \"1.2\"` on the listener.",
                key=version, operation="* /", policy={"tls": True},
                observed=[Evidence(f"TLS ClientHello to {host}:{port} offering {version} at most", f"handshake completed with {version}")],
            )  # fmt: skip


def _headers(ctx: ScanContext, scheme: str) -> None:
    missing: dict[str, Recorded] = {}
    versions: dict[str, Recorded] = {}
    for rec in ctx.recorded[:60]:
        h = rec.response.headers
        if scheme == "https" and "strict-transport-security" not in h:
            missing.setdefault("Strict-Transport-Security", rec)
        if (h.get("x-content-type-options") or "").lower() != "nosniff":
            missing.setdefault("X-Content-Type-Options: nosniff", rec)
        doc = rec.response.json()
        if doc is not None and "no-store" not in (h.get("cache-control") or "") and ctx.engine.scan_json(doc):
            missing.setdefault("Cache-Control: no-store (on answers with personal information)", rec)
        for name in ("server", "x-powered-by", "x-aspnet-version"):
            value = h.get(name) or ""
            if re.search(r"\d+\.\d+", value):
                versions.setdefault(f"{name}: {value[:60]}", rec)
    if missing:
        first = next(iter(missing.values()))
        ctx.report(
            "security-headers", OWASP, 693, Severity.LOW, "Security headers are missing", None,
            "Answers lack: " + "; ".join(missing) + ".",
            "Send HSTS, `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` on personal data; at the gateway: "
            "the `security_headers` filter and `personal: true` routes.",
            [(first.request, first.response)], key="headers", operation="* /", policy={"security_headers": True},
        )  # fmt: skip
    if versions:
        first = next(iter(versions.values()))
        ctx.report(
            "version-disclosure", OWASP, 200, Severity.LOW, "Server software versions are disclosed", None,
            "Headers name software versions: " + "; ".join(versions) + ".",
            "Remove version details from Server and X-Powered-By headers.",
            [(first.request, first.response)], key="versions", operation="* /",
        )  # fmt: skip


def _cors(ctx: ScanContext, sample: Recorded) -> CheckGen:
    req = copy.deepcopy(sample.request)
    req.headers["Origin"] = _EVIL
    resp = yield req
    acao = resp.header("access-control-allow-origin") or ""
    creds = (resp.header("access-control-allow-credentials") or "").lower() == "true"
    if acao == _EVIL or acao == "null":
        sev = Severity.HIGH if creds else Severity.MEDIUM
        ctx.report(
            "cors-permissive", OWASP, 942, sev, "CORS trusts any origin", sample.op,
            f"A request from {_EVIL} to {sample.op.method} {sample.op.path} got Access-Control-Allow-Origin: {acao}"
            + (" with Access-Control-Allow-Credentials: true: any web site can read the API as the logged-in user." if creds else "."),
            "Allow only the origins of your own web apps (exact match, no reflection); at the gateway: the route's "
            "`cors.allow_origins` list.",
            [(req, resp)], key="origin", policy={"cors": True}, operation="* /",
        )  # fmt: skip
    elif acao == "*" and ctx.needs_auth(sample.op):
        ctx.report(
            "cors-permissive", OWASP, 942, Severity.LOW, "CORS allows every origin on an authenticated API", sample.op,
            "Access-Control-Allow-Origin: * on an operation that needs a credential.",
            "List the allowed origins explicitly; at the gateway: `cors.allow_origins`.", [(req, resp)], key="wildcard",
            policy={"cors": True}, operation="* /",
        )  # fmt: skip


def _errors(ctx: ScanContext) -> CheckGen:
    probes: list[tuple[HttpRequest, str]] = []
    for op in ctx.spec.operations:
        if op.method in ("POST", "PUT", "PATCH") and ctx.allowed(op) and specutil.body_schema(op) is not None:
            ident = ctx.identities[0] if ctx.identities and op.security else None
            values = dict(ctx.subject_values(ident)) if ident else {}
            req = ctx.request(op, values, identity=ident)
            if req is not None:
                req.json = None
                req.body = b'{"cpgscan": [1, 2,'
                probes.append((req, "malformed JSON"))
                break
    probes.append((HttpRequest("GET", ctx.url_path("/" + specutil.marker() + "/%ff"), headers={"Accept": "application/json"}), "unknown path"))
    for req, what in probes:
        resp = yield req
        m = STACK_TRACE.search(resp.text())
        if m:
            ctx.report(
                "verbose-errors", OWASP, 209, Severity.MEDIUM, "Errors reveal stack traces or internals", None,
                f"A request with {what} got HTTP {resp.status} with internal details ({m.group(0)[:40]!r}...).",
                "Answer errors with a generic problem document (RFC 9457) and log details server-side only; at the "
                "gateway: problem responses never carry upstream internals.",
                [(req, resp)], key=what, operation="* /", policy={},
            )  # fmt: skip
        elif resp.status >= 500:
            ctx.report(
                "unhandled-error", OWASP, 755, Severity.LOW, "Malformed input causes a server error", None,
                f"A request with {what} got HTTP {resp.status}; bad input should be a 4xx.",
                "Validate input and answer 400/422; at the gateway: request validation against the spec.",
                [(req, resp)], key=what, operation="* /",
            )  # fmt: skip
