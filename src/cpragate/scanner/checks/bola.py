"""API1 broken object level authorization (BOLA/IDOR).

An object belongs to identity A when A created it, when an owner-like field names A
(``owner``, ``user_id``, ``username``... equal to a value from A's token or ``/me``), or
when it was listed for A and for no other identity. Each such object is requested by
every other identity B on every item operation its fields can address; B being served
A's object (its identifying values in the answer) while B was never shown it is BOLA.
An object that anonymous callers may also read is public, not a finding.

With ``--unsafe-methods`` B also tries to update and then delete objects *the scanner
created* as A (never pre-existing data); A reads them back to confirm.
"""

from __future__ import annotations

import copy
from typing import Any

from cpragate.openapi import Operation
from cpragate.scanner import specutil
from cpragate.scanner.context import Identity, ObjectRef, ScanContext
from cpragate.scanner.model import CheckGen, HttpRequest, HttpResponse, Severity
from cpragate.scanner.redact import SECRET_KEY_RE

__all__ = ["NAME", "related", "run"]

NAME = "bola"
OWASP = "API1:2023"
_FIX = (
    "Check on every request that the caller owns (or may access) the object named in the path, and answer 404 "
    "otherwise; at the gateway: an `authz.owner` rule on this route (response-side owner check) or `served_ids`."
)


def _static_prefix(template: str) -> str:
    return template.split("{", 1)[0].rstrip("/")


def related(op_path: str, collection: str) -> bool:
    """Whether an item operation addresses objects found at ``collection``."""
    a, b = _static_prefix(op_path), _static_prefix(collection)
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


def _identifying(ref: ObjectRef) -> dict[str, Any]:
    keys = [k for k in ref.values if k.lower() in ("id", "uuid", "_id") or k.lower().endswith(("_id", "id", "name", "title"))]
    return {k: ref.values[k] for k in keys[:3]} or dict(list(ref.values.items())[:2])


def _serves(resp: HttpResponse, ref: ObjectRef) -> bool:
    """The answer contains the object (its identifying values), not an empty shell."""
    if not resp.ok:
        return False
    text = resp.text()
    ident = _identifying(ref)
    if not ident:
        return False
    # One distinctive identifier (a uuid, a title) is enough -- a sub-resource such as
    # /vehicles/{uuid}/location names its parent by one of them; short numbers need all.
    if any(isinstance(v, str) and len(v) >= 6 and v in text for v in ident.values()):
        return True
    return all(str(v) in text for v in ident.values())


def _sensitive(ctx: ScanContext, resp: HttpResponse) -> bool:
    doc = resp.json()
    if doc is None:
        return False
    if ctx.engine.scan_json(doc):
        return True
    return _has_secret_key(doc)


def _has_secret_key(doc: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(doc, dict):
        return any((SECRET_KEY_RE.search(k) and v) or _has_secret_key(v, depth + 1) for k, v in doc.items())
    if isinstance(doc, list):
        return any(_has_secret_key(v, depth + 1) for v in doc[:20])
    return False


def _as(ctx: ScanContext, req: HttpRequest, ident: Identity | None) -> HttpRequest:
    out = copy.deepcopy(req)
    tokens = {i.credential.token for i in ctx.identities}
    out.headers = {k: v for k, v in out.headers.items() if not any(t in v for t in tokens) and k.lower() not in ("authorization", "cookie")}
    out.query = [(k, v) for k, v in out.query if not any(t in v for t in tokens)]
    out.identity = None
    if ident is not None:
        ident.credential.apply(out)
        out.identity = ident.name
    return out


def run(ctx: ScanContext) -> CheckGen:
    if len(ctx.identities) < 2:
        ctx.notes.append("bola: needs two identities (--auth A=... --auth B=...); not tested")
        return
    limit = ctx.options.max_ops_per_check
    done: set[tuple[str, str, str]] = set()
    for a, b in ctx.pairs():
        refs = [r for r in ctx.owned_by(a) if not ctx.seen_by(b, r)]
        for op in ctx.item_ops("GET")[:limit]:
            # A few of A's objects per operation, until A itself is served one: enumerating
            # every id is noise (and a gateway's anomaly detection rightly blocks it).
            tried = 0
            for ref in refs:
                if tried >= 3 or (op.path, "read", b.name) in done:
                    break
                if not related(op.path, ref.collection):
                    continue
                req, own = None, None
                for values in _variants(ref.values):
                    cand = ctx.request(op, values, identity=a)
                    if cand is None or (req is not None and cand.path == req.path):
                        continue
                    tried += 1
                    req = cand
                    own = yield req
                    ctx.record(op, req, own)
                    if _serves(own, ref):
                        break
                if req is None or own is None or not _serves(own, ref):
                    continue
                done.add((op.path, "read", b.name))
                other = _as(ctx, req, b)
                resp = yield other
                ctx.record(op, other, resp)
                if not _serves(resp, ref):
                    break
                anon = _as(ctx, req, None)
                public = yield anon
                if _serves(public, ref):
                    break  # anyone may read it: a public object (API2 reports a missing credential)
                sensitive = _sensitive(ctx, resp)
                if not sensitive and not ref.created:
                    break  # a minimal public profile (id, name) of someone is not a leak
                sev = Severity.HIGH if sensitive else Severity.MEDIUM
                ctx.report(
                    "bola", OWASP, 639, sev, "Another user's object is readable", op,
                    f"Identity {b.name!r} read an object that belongs to {a.name!r} (found at {ref.collection}) "
                    f"and that {b.name!r} was never shown.",
                    _FIX, [(req, own, f"owner {a.name!r}"), (other, resp, f"other identity {b.name!r}")],
                    key="read", policy={"bola": {"owner_fields": _owner_fields(resp)}},
                )  # fmt: skip
                break
        if ctx.options.unsafe_methods:
            for ref in [r for r in refs if r.created][:2]:
                yield from _write(ctx, a, b, ref, done)


def _variants(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The object's fields as given, then without its plain ``id`` -- for ``{vehicleId}``
    parameters that take the object's ``uuid`` rather than its row number."""
    out = [values]
    if "id" in values and any(k.lower() in ("uuid", "guid") or k.lower().endswith("_uuid") for k in values):
        out.append({k: v for k, v in values.items() if k != "id"})
    return out


def _owner_fields(resp: HttpResponse) -> list[str]:
    doc = resp.json()
    if not isinstance(doc, dict):
        return []
    return [k for k in doc if k.lower() in ("owner", "owner_id", "user", "user_id", "username", "tenant_id", "account_id", "customer_id", "author")]


def _write(ctx: ScanContext, a: Identity, b: Identity, ref: ObjectRef, done: set[tuple[str, str, str]]) -> CheckGen:
    reads = [op for op in ctx.item_ops("GET") if related(op.path, ref.collection)]
    for method in ("PUT", "PATCH", "DELETE"):
        for op in ctx.item_ops(method):
            if not related(op.path, ref.collection) or (op.path, method, b.name) in done:
                continue
            body, marker = _update_body(op, ref)
            req = ctx.request(op, ref.values, identity=b, json=body)
            if req is None:
                continue
            resp = yield req
            if not resp.ok:
                continue
            confirm: list[tuple[HttpRequest, HttpResponse]] = []
            for rop in reads[:1]:
                back = ctx.request(rop, ref.values, identity=a)
                if back is not None:
                    confirm.append((back, (yield back)))
            if method == "DELETE":
                effective = not confirm or confirm[0][1].status in (404, 410)
            else:
                effective = not confirm or not marker or marker in confirm[0][1].text()
            if not effective:
                continue
            done.add((op.path, method, b.name))
            verb = "deleted" if method == "DELETE" else "modified"
            ctx.report(
                "bola-write", OWASP, 639, Severity.HIGH, f"Another user's object can be {verb}", op,
                f"Identity {b.name!r} {verb} an object the scanner created as {a.name!r} ({method} answered {resp.status}).",
                _FIX, [(req, resp, f"as {b.name!r}"), *[(q, r, f"read back as {a.name!r}") for q, r in confirm]],
                key=method.lower(), policy={"bola": {"owner_fields": []}},
            )  # fmt: skip


def _update_body(op: Operation, ref: ObjectRef) -> tuple[Any, str]:
    """A body for an update of ``ref`` (its non-string fields kept) and the marker written into it."""
    found = specutil.body_schema(op)
    if found is None:
        return None, ""
    node, root = found
    tag = specutil.marker()
    body = specutil.example(node, root, tag=tag)
    if isinstance(body, dict):
        for k, v in ref.values.items():
            if k in body and not isinstance(v, str):
                body[k] = v
        if any(isinstance(v, str) and tag in v for v in body.values()):
            return body, tag
    return body, ""
