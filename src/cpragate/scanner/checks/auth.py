"""API2 broken authentication.

For each read an identity was granted during discovery, the same request is replayed:
without a credential, with garbage, with forged JWTs (``alg: none``, signature stripped,
payload tampered, expired -- the last signed with the cracked secret), and with the
credential moved into the query string. An operation counts as protected when the spec
declares security for it or the anonymous replay was refused; only then is an accepted
forgery a finding. A token's HMAC secret is cracked offline against a dictionary; a
token without ``exp`` is reported. Login operations are probed for user enumeration
(different answers for an unknown user and a known user with a wrong password).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import Any

from cpragate.scanner import jwtutil, specutil
from cpragate.scanner.context import Identity, Recorded, ScanContext
from cpragate.scanner.model import CheckGen, Evidence, HttpRequest, HttpResponse, Severity

__all__ = ["NAME", "run"]

NAME = "auth"
OWASP = "API2:2023"
_QUERY_NAMES = ("access_token", "token", "api_key", "apikey", "jwt", "auth", "key")
_FIX_VERIFY = (
    "Verify every token's signature with an allow-list of algorithms (never `none`), its `exp`/`nbf`, issuer "
    "and audience; at the gateway: `filters.authn.jwt` with `algorithms` and a JWKS."
)


def _strip_credential(ctx: ScanContext, req: HttpRequest) -> HttpRequest:
    out = copy.deepcopy(req)
    out.identity = None
    secrets_ = {i.credential.token for i in ctx.identities}
    out.headers = {k: v for k, v in out.headers.items() if not any(s in v for s in secrets_) and k.lower() not in ("authorization", "cookie")}
    out.query = [(k, v) for k, v in out.query if not any(s in v for s in secrets_)]
    return out


def _with(ctx: ScanContext, req: HttpRequest, ident: Identity, token: str) -> HttpRequest:
    out = _strip_credential(ctx, req)
    ident.credential.with_token(token).apply(out)
    out.identity = f"{ident.name} (forged)"
    return out


_ISSUER_OP = "* (token)"
"""Token flaws are properties of the issuer/verifier, not of one operation: one finding,
a stable fingerprint whichever operation showed it first."""


def _name(rec: Recorded) -> str:
    return f"{rec.op.method} {rec.op.path}"


def _once(ctx: ScanContext, check: str) -> bool:
    """Whether ``check`` was already reported (token flaws are reported once, not per operation)."""
    return any(f.check == check for f in ctx.findings)


def _accepted(resp: HttpResponse, good: HttpResponse) -> bool:
    """2xx like the real credential's answer (a login page or an empty shell is not)."""
    if not resp.granted:
        return False
    if good.body and resp.body and abs(len(resp.body) - len(good.body)) > max(64, len(good.body) // 2):
        return False
    return True


def _targets(ctx: ScanContext) -> list[Recorded]:
    seen: set[tuple[str, str]] = set()
    out = []
    for rec in ctx.recorded:
        key = (rec.op.method, rec.op.path)
        if rec.op.method != "GET" or rec.identity is None or key in seen:
            continue
        seen.add(key)
        out.append(rec)
    return out[: ctx.options.max_ops_per_check]


def run(ctx: ScanContext) -> CheckGen:
    targets = _targets(ctx)
    protected: list[Recorded] = []
    for rec in targets:
        anon = _strip_credential(ctx, rec.request)
        resp = yield anon
        if not resp.granted and resp.status != 0:
            ctx.protected_ops.add((rec.op.method, rec.op.path))
            protected.append(rec)
        elif _accepted(resp, rec.response) and ctx.declares_auth(rec.op):
            ctx.report(
                "auth-missing", OWASP, 306, Severity.HIGH, "Operation answers without any credential", rec.op,
                f"The spec requires authentication for {rec.op.method} {rec.op.path}, but a request with no credential got "
                f"HTTP {resp.status} like the authenticated one.",
                "Require authentication on this operation (at the gateway: every route has authn; remove `anonymous`).",
                [(anon, resp)], policy={"authn": True},
            )  # fmt: skip
    if not protected:
        ctx.notes.append("auth: no operation refused an anonymous caller, so credential forgeries were not tested")
    for rec in protected[:4]:
        ident = ctx.identity(rec.identity or "")
        garbage = _with(ctx, rec.request, ident, "cpgscan." + secrets.token_urlsafe(24))
        resp = yield garbage
        if _accepted(resp, rec.response):
            ctx.report("auth-garbage", OWASP, 287, Severity.CRITICAL, "A random credential is accepted", rec.op,
                       f"A credential that was never issued got the same answer as a valid one on {_name(rec)}.", _FIX_VERIFY,
                       [(garbage, resp)], policy={"authn": True}, operation=_ISSUER_OP)  # fmt: skip
        yield from _query_credential(ctx, rec, ident)
        if ident.is_jwt:
            yield from _jwt_forgeries(ctx, rec, ident)
    yield from _jwt_static(ctx, protected)
    yield from _enumeration(ctx)


def _query_credential(ctx: ScanContext, rec: Recorded, ident: Identity) -> CheckGen:
    if ident.credential.location == "query" or _once(ctx, "auth-credential-in-query"):
        return
    for name in _QUERY_NAMES:
        req = _strip_credential(ctx, rec.request)
        req.query = [*req.query, (name, ident.credential.token)]
        req.identity = f"{ident.name} (in query)"
        resp = yield req
        if _accepted(resp, rec.response):
            ctx.report(
                "auth-credential-in-query", OWASP, 598, Severity.MEDIUM, "Credentials are accepted in the query string", rec.op,
                f"The credential sent as query parameter `{name}` was accepted on {_name(rec)}; URLs end up in logs, proxies "
                "and browser history.",
                "Accept credentials only in the Authorization header (or a Secure, HttpOnly cookie); reject them in URLs.",
                [(req, resp)], key=name, operation=_ISSUER_OP,
            )  # fmt: skip
            return


def _jwt_forgeries(ctx: ScanContext, rec: Recorded, ident: Identity) -> CheckGen:
    token = ident.credential.token
    header, claims = ident.jwt_header, ident.claims
    forged: list[tuple[str, str, str, int]] = [
        ("jwt-alg-none", jwtutil.unsigned(header, claims, "none"), "A token with `alg: none` and no signature is accepted", 347),
        ("jwt-signature-stripped", token.rpartition(".")[0] + ".", "A token with its signature removed is accepted", 347),
        ("jwt-signature-not-verified", jwtutil.with_claims(token, {**claims, "cpgscan": secrets.token_hex(4)}),
         "A token whose payload was changed after signing is accepted", 347),
    ]  # fmt: skip
    for check, bad, title, cwe in forged:
        if _once(ctx, check):
            continue
        req = _with(ctx, rec.request, ident, bad)
        resp = yield req
        if _accepted(resp, rec.response):
            ctx.report(check, OWASP, cwe, Severity.CRITICAL, title, rec.op,
                       f"{title} (on {_name(rec)}): anyone can mint a token for any subject or role.", _FIX_VERIFY, [(req, resp)],
                       policy={"authn": True}, operation=_ISSUER_OP)  # fmt: skip
    secret = _cracked(ctx, ident)
    if secret is not None:
        expired = jwtutil.encode_hs(header, {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, secret)
        req = _with(ctx, rec.request, ident, expired)
        resp = yield req
        if _accepted(resp, rec.response):
            ctx.report("jwt-expired-accepted", OWASP, 613, Severity.HIGH, "An expired token is accepted", rec.op,
                       f"A correctly signed token whose `exp` passed an hour ago was accepted on {_name(rec)}.", _FIX_VERIFY,
                       [(req, resp)], policy={"authn": True}, operation=_ISSUER_OP)  # fmt: skip
    elif not _once(ctx, "jwt-expired-accepted") and "exp" in claims and isinstance(claims["exp"], int | float) and claims["exp"] < time.time():
        resp = yield copy.deepcopy(rec.request)
        if _accepted(resp, rec.response):
            ctx.report("jwt-expired-accepted", OWASP, 613, Severity.HIGH, "An expired token is accepted", rec.op,
                       f"The identity's own token is past its `exp` and was still accepted on {_name(rec)}.", _FIX_VERIFY,
                       [(rec.request, resp)], operation=_ISSUER_OP)  # fmt: skip


def _cracked(ctx: ScanContext, ident: Identity) -> str | None:
    """The identity's HMAC secret if it is a dictionary word (reported once, offline, no request)."""
    token = ident.credential.token
    secret = jwtutil.crack(token) if ident.is_jwt else None
    if secret is not None and not _once(ctx, "jwt-weak-secret"):
        ctx.redactor.add_secret(secret)
        ctx.report(
            "jwt-weak-secret", OWASP, 1391, Severity.CRITICAL, "The JWT signing secret is a dictionary word", None,
            f"The HS token of identity {ident.name!r} verifies with the dictionary secret {jwtutil.mask_secret(secret)} "
            f"(alg {ident.jwt_header.get('alg')}); anyone can sign tokens for any user.",
            "Rotate the signing key now: a random key of at least 256 bits from a secret store, or asymmetric keys (RS256/ES256) "
            "with a JWKS; invalidate issued tokens.",
            key=str(ident.jwt_header.get("alg")), operation=_ISSUER_OP, policy={"authn": True},
            observed=[Evidence(
                f"offline: HMAC-{str(ident.jwt_header.get('alg'))[2:]} over the header and payload of identity "
                f"{ident.name!r}'s token, keyed with each of {len(jwtutil.WEAK_SECRETS)} dictionary words",
                f"the signature matches the word {jwtutil.mask_secret(secret)}", "no request was sent")],
        )  # fmt: skip
    return secret


def _jwt_static(ctx: ScanContext, protected: list[Recorded]) -> CheckGen:
    for ident in ctx.identities:
        _cracked(ctx, ident)
        if ident.is_jwt and "exp" not in ident.claims:
            ctx.report("jwt-no-expiry", OWASP, 613, Severity.MEDIUM, "Tokens never expire", None,
                       f"The token of identity {ident.name!r} has no `exp` claim: a leaked token works forever.",
                       "Issue tokens with a short `exp` (minutes to hours) and refresh them; reject tokens without `exp`.",
                       key=ident.name, operation=_ISSUER_OP,
                       observed=[Evidence(f"identity {ident.name!r}: decoded JWT payload (not verified)",
                                          "claims present: " + ", ".join(sorted(ident.claims)) + "; no `exp`")])  # fmt: skip
    if False:  # pragma: no cover - keeps this a generator
        yield


def _known_users(ctx: ScanContext, field: str) -> list[str]:
    email = "mail" in field.lower()
    found: list[str] = []
    for ident in ctx.identities:
        found += [s for s in ident.subjects if ("@" in s) == email and not s.isdigit()]
    for ref in ctx.objects:
        v = ref.values.get(field) or ref.values.get("email" if email else "username")
        if isinstance(v, str):
            found.append(v)
    return list(dict.fromkeys(found))


def _normalize(resp: HttpResponse, *values: str) -> tuple[int, str]:
    text = resp.text(4096)
    for v in values:
        text = text.replace(v, "<user>")
    text = re.sub(r"\b(req|request|trace)[-_]?id\W+[\w-]+", "", text, flags=re.I)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", "<time>", text)
    return resp.status, text


def _enumeration(ctx: ScanContext) -> CheckGen:
    for op in [o for o in ctx.spec.operations if specutil.is_login(o)][:3]:
        props = specutil.declared_properties(op)
        ufield, pfield = specutil.user_field(props), specutil.password_field(props)
        if ufield is None or pfield is None:
            continue
        users = _known_users(ctx, ufield)
        if not users:
            ctx.notes.append(f"auth: no known user name for {op.method} {op.path}; user enumeration not tested")
            continue
        known = users[0]
        unknown = ("cpgscan" + secrets.token_hex(5)) + ("@example.com" if "@" in known else "")
        wrong = "Wrong-" + secrets.token_hex(6)
        answers: list[tuple[HttpRequest, HttpResponse]] = []
        for user in (known, unknown):
            body: dict[str, Any] = {ufield: user, pfield: wrong}
            req = ctx.request(op, {}, json=body)
            if req is None:
                break
            resp = yield req
            answers.append((req, resp))
        if len(answers) == 2:
            (_, a), (_, b) = answers
            if specutil.logged_in(a.status, a.json(), a.text()) or specutil.logged_in(b.status, b.json(), b.text()):
                continue  # a wrong password logged in: that is another problem, not enumeration
            if _normalize(a, known) != _normalize(b, unknown):
                ctx.report(
                    "user-enumeration", OWASP, 204, Severity.MEDIUM, "Login answers differ for unknown users", op,
                    f"A wrong password for an existing user got HTTP {a.status}; an unknown user got HTTP {b.status} "
                    "with a different message, so user names can be enumerated.",
                    "Answer every failed login identically (same status, body and timing), e.g. 401 `invalid credentials`.",
                    answers,
                )  # fmt: skip

