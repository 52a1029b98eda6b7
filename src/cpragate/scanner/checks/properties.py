"""API3 broken object property level authorization.

*Excessive data exposure*: every successful JSON answer recorded during the scan is
compared with the response schema the spec declares for it (properties beyond the spec),
and run through the PII engine. Undeclared credentials (``password_hash``...), undeclared
personal information and any unmasked SPI or password are findings; the evidence is
masked like every other excerpt.

*Mass assignment*: every write the scan may send (POST; PUT/PATCH with
``--unsafe-methods``) is sent with privileged properties the spec does not let a client
write (``role``, ``is_admin``, ``balance``..., and the schema's ``readOnly`` ones). If the
write is accepted, the values are looked for in the answer, in a read of the object, and
-- for a registration -- in the new account's login token and ``/me``.
"""

from __future__ import annotations

import re
from typing import Any

from cpragate.openapi import Operation
from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext, decode_jwt
from cpragate.scanner.model import CheckGen, HttpRequest, HttpResponse, Severity

__all__ = ["NAME", "PRIVILEGED", "run", "run_exposure"]

NAME = "properties"
OWASP = "API3:2023"
PRIVILEGED: dict[str, Any] = {
    "role": "admin", "roles": ["admin"], "admin": True, "is_admin": True, "isAdmin": True, "superuser": True,
    "is_superuser": True, "is_staff": True, "permissions": ["*"], "scope": "admin", "group": "admin",
    "balance": 1000000, "credit": 1000000, "verified": True, "is_verified": True, "email_verified": True,
    "approved": True, "account_type": "admin", "user_type": "admin", "plan": "enterprise",
}  # fmt: skip
_CREDENTIAL_KEY = re.compile(r"(^|_)(password|passwd|pwd|password_?hash|hashed_?password|salt|private_?key|otp_?secret|mfa_?secret)$", re.I)
_MASKED = re.compile(r"[*•xX#]{3,}|^\W*$")


def _generic(pointer: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/*", pointer)


def _value_at(doc: Any, path: str) -> Any:
    """The value at a PII-engine path (``$.items[3].ssn``)."""
    cur = doc
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, idx = part
        if key:
            cur = cur.get(key) if isinstance(cur, dict) else None
        else:
            cur = cur[int(idx)] if isinstance(cur, list) and int(idx) < len(cur) else None
    return cur


def _walk_keys(doc: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    if depth > 8:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((f"{prefix}/{k}", k, v))
            out += _walk_keys(v, f"{prefix}/{k}", depth + 1)
    elif isinstance(doc, list):
        for v in doc[:20]:
            out += _walk_keys(v, f"{prefix}/*", depth + 1)
    return out


def run(ctx: ScanContext) -> CheckGen:
    """Mass assignment (sends writes)."""
    yield from _mass_assignment(ctx)


def run_exposure(ctx: ScanContext) -> CheckGen:
    """Excessive data exposure over everything recorded so far (sends nothing); run last."""
    _exposure(ctx)
    if False:  # pragma: no cover - a generator like every check
        yield


def _exposure(ctx: ScanContext) -> None:
    for rec in ctx.recorded:
        doc = rec.response.json()
        if doc is None:
            continue
        op = rec.op
        schema = specutil.response_schema(op, rec.response.status)
        undeclared: set[str] = set()
        if schema is not None:
            undeclared = {_generic(p) for p in schema.undeclared(doc)}
        # credentials in answers, declared or not
        creds = sorted({_generic(ptr) for ptr, key, v in _walk_keys(doc) if _CREDENTIAL_KEY.search(key) and isinstance(v, str) and v and not _MASKED.search(v)})
        if creds:
            ctx.report(
                "credential-exposure", OWASP, 200, Severity.HIGH, "Answers contain passwords or password hashes", op,
                f"The answer contains {', '.join(creds)}; a client never needs a password or its hash.",
                "Remove these properties from the API's serializer; at the gateway: leave them out of the response schema "
                "so conformance strips them, or `minimize` with an allow-list.",
                [(rec.request, rec.response)], key="credentials", policy={"strip": creds},
            )  # fmt: skip
        hits = ctx.engine.scan_json(doc)
        undeclared_pii = sorted({_generic("/" + h.path[2:].replace(".", "/").replace("[", "/").replace("]", "")) for h in hits}
                                & undeclared)  # fmt: skip
        extra = sorted(undeclared - set(creds))
        if extra:
            sensitive = bool(undeclared_pii) or any(re.search(r"(secret|token|key|internal|risk|score|ssn|salary)", p, re.I) for p in extra)
            ctx.report(
                "excessive-data-exposure", OWASP, 213, Severity.HIGH if sensitive else Severity.LOW,
                "Answers contain properties the spec does not declare", op,
                f"Undeclared properties in the HTTP {rec.response.status} answer: {', '.join(extra[:12])}"
                + (f" (personal information in {', '.join(undeclared_pii[:6])})" if undeclared_pii else "") + ".",
                "Return only the documented properties (a response DTO, not the database row); at the gateway: response "
                "conformance strips what the spec does not declare.",
                [(rec.request, rec.response)], key="undeclared", policy={"strip": extra},
            )  # fmt: skip
        spi = sorted({(h.entity, _generic("/" + h.path[2:].replace(".", "/").replace("[", "/").replace("]", ""))) for h in hits
                      if h.spi and not _MASKED.search(str(_value_at(doc, h.path)))})  # fmt: skip
        if spi:
            ctx.report(
                "spi-exposure", OWASP, 359, Severity.MEDIUM, "Sensitive personal information is returned unmasked", op,
                "The answer carries sensitive personal information in clear: "
                + ", ".join(f"{e} at {p}" for e, p in spi[:8]) + ".",
                "Mask or tokenize SPI unless this caller needs it in clear; at the gateway: the `pii` filter with `spi: mask`.",
                [(rec.request, rec.response)], key="spi", policy={"mask_spi": True},
            )  # fmt: skip


def _writes(ctx: ScanContext) -> list[Operation]:
    ops = []
    for op in ctx.spec.operations:
        if op.method not in ("POST", "PUT", "PATCH") or not ctx.allowed(op) or specutil.is_login(op):
            continue
        if specutil.body_schema(op) is None:
            continue
        ops.append(op)
    return ops[: ctx.options.max_ops_per_check]


def _extras(op: Operation) -> dict[str, Any]:
    props = specutil.declared_properties(op)
    out = {k: v for k, v in PRIVILEGED.items() if k not in props or props[k].get("readOnly")}
    for name, schema in props.items():
        if schema.get("readOnly") and not re.search(r"(^|_)(id|uuid)$", name, re.I):
            out.setdefault(name, specutil.example(schema, schema, name=name, tag="cpgscanro", writing=False))
    return out


def _find(doc: Any, key: str, value: Any, ours: frozenset[str] = frozenset(), depth: int = 0) -> bool:
    """``key: value`` in an object of ``doc`` -- one that is ours (holds one of the marker
    values we wrote) when ``ours`` is given, so another account's ``admin: true`` in a
    listing does not count."""
    if depth > 6:
        return False
    if isinstance(doc, dict):
        mine = not ours or any(isinstance(v, str) and v in ours for v in doc.values())
        if key in doc and _same(doc[key], value) and mine:
            return True
        return any(_find(v, key, value, ours, depth + 1) for v in doc.values())
    if isinstance(doc, list):
        return any(_find(v, key, value, ours, depth + 1) for v in doc[:200])
    return False


def _same(got: Any, sent: Any) -> bool:
    if isinstance(sent, list):
        return (isinstance(got, list) and all(x in got for x in sent)) or (isinstance(got, str) and all(str(x) in got for x in sent))
    if isinstance(sent, bool):
        return got is sent or (isinstance(got, str) and got.lower() == str(sent).lower()) or (got == 1 and sent is True)
    return got == sent or str(got) == str(sent)


def _mass_assignment(ctx: ScanContext) -> CheckGen:
    for op in _writes(ctx):
        extras = _extras(op)
        if not extras:
            continue
        register = specutil.is_register(op)
        ident = None if register or not ctx.identities else ctx.identities[0]
        values: dict[str, Any] = {}
        if ident is not None:
            values = dict(ctx.subject_values(ident))
            for ref in ctx.owned_by(ident):
                for k, v in ref.values.items():
                    values.setdefault(k, v)
        base = ctx.request(op, values, identity=ident)
        if base is None or not isinstance(base.json, dict):
            continue
        base.json.update(extras)
        resp = yield base
        ctx.record(op, base, resp)
        if not resp.ok:
            continue
        stuck: dict[str, str] = {}
        evidence: list[tuple[HttpRequest, HttpResponse, str]] = [(base, resp, "write with privileged properties")]
        doc = resp.json()
        ours = frozenset(v for v in base.json.values() if isinstance(v, str) and "cpgscan" in v)
        for k, v in extras.items():
            if doc is not None and _find(doc, k, v):
                stuck[k] = "echoed in the write's answer"
        reads = yield from _read_back(ctx, op, base, resp, ident, register)
        for req, back, how in reads:
            bdoc = back.json()
            claims = decode_jwt(_token_in(back)) if _token_in(back) else None
            for k, v in extras.items():
                if (bdoc is not None and _find(bdoc, k, v, ours if _is_listing(bdoc) else frozenset())) or (claims and _find(claims[1], k, v)):
                    stuck[k] = how
            evidence.append((req, back, how))
        if not stuck:
            continue
        confirmed = any(how != "echoed in the write's answer" for how in stuck.values())
        ctx.report(
            "mass-assignment", OWASP, 915, Severity.HIGH if confirmed else Severity.MEDIUM,
            "Privileged properties can be set by the client", op,
            "The API accepted and kept properties a client must not set: "
            + ", ".join(f"{k} ({how})" for k, how in sorted(stuck.items())) + ".",
            "Bind request bodies to an explicit allow-list of writable properties; at the gateway: validation with "
            "`additionalProperties: false` on this body and `validation.privileged` for role-like fields.",
            evidence, key="write", policy={"privileged": sorted(stuck)},
        )  # fmt: skip


def _is_listing(doc: Any) -> bool:
    return isinstance(doc, list) or (isinstance(doc, dict) and any(isinstance(v, list) and v and isinstance(v[0], dict) for v in doc.values()))


def _token_in(resp: HttpResponse) -> str:
    m = re.search(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", resp.text())
    return m.group(0) if m else ""


def _read_back(ctx: ScanContext, op: Operation, write: HttpRequest, resp: HttpResponse, ident: Any, register: bool) -> Any:
    """Requests that show what was stored: Location, the related item GET, the new account's login."""
    out: list[tuple[HttpRequest, HttpResponse, str]] = []
    body = write.json if isinstance(write.json, dict) else {}
    doc = resp.json()
    values = {**body, **(doc if isinstance(doc, dict) else {})}
    loc = resp.header("location")
    if loc and loc.startswith("/"):
        req = HttpRequest("GET", loc, headers={"Accept": "application/json"})
        if ident is not None:
            ident.credential.apply(req)
            req.identity = ident.name
        out.append((req, (yield req), "read back at Location"))
    prefix = op.path.split("{", 1)[0].rstrip("/")
    token = ""
    if register:
        for login in [o for o in ctx.spec.operations if specutil.is_login(o)][:1]:
            props = specutil.declared_properties(login)
            uf, pf = specutil.user_field(props), specutil.password_field(props)
            if uf and pf and uf in body and pf in body:
                lreq = ctx.request(login, {}, json={uf: body[uf], pf: body[pf]})
                if lreq is not None:
                    got = yield lreq
                    out.append((lreq, got, "the new account's login"))
                    token = _token_in(got)
    for rop in ctx.item_ops("GET") + ctx.collection_ops():
        if len(out) >= 5:
            break
        if not rop.path.startswith(prefix) and not (register and re.search(r"/(me|profile|users?|accounts?)", rop.path)):
            continue
        rreq = ctx.request(rop, values)
        if rreq is None or (not specutil.path_params(rop) and not token):
            continue
        req = rreq
        if token:
            if ctx.identities:
                ctx.identities[0].credential.with_token(token).apply(req)
            else:
                req.headers["Authorization"] = f"Bearer {token}"
            req.identity = "the new account"
        elif ident is not None:
            ident.credential.apply(req)
            req.identity = ident.name
        got = yield req
        ctx.record(rop, req, got)
        out.append((req, got, "read back"))
    return out
