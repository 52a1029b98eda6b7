"""Discovery: call what each identity may read, create an object per collection, and
remember the objects (who saw them, whose they are). Reports nothing itself; the
other checks work on what it found.

Order: ``/me``-like and list GETs, then item GETs addressed by the identity's own
subject values (``/users/{username}`` with the JWT's ``sub``), then one create per
POST collection (not logins, registrations or destructive-looking POSTs).
"""

from __future__ import annotations

from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import CheckGen

__all__ = ["NAME", "run"]

NAME = "discovery"


def run(ctx: ScanContext) -> CheckGen:
    limit = ctx.options.max_ops_per_check * 2
    for ident in ctx.identities:
        for op in ctx.collection_ops()[:limit]:
            req = ctx.request(op, ctx.subject_values(ident), identity=ident)
            if req is None:
                continue
            resp = yield req
            ctx.record(op, req, resp)
            if resp.ok:
                ctx.remember(ident, op, resp.json())
        mine = ctx.subject_values(ident)
        for op in ctx.item_ops("GET")[:limit]:
            req = ctx.request(op, mine, identity=ident)
            if req is None:
                continue
            resp = yield req
            ctx.record(op, req, resp)
            if resp.ok:
                ctx.remember(ident, op, resp.json(), mine=True, item_path=req.path)
    # One object per collection and identity, so BOLA has objects that surely belong to someone.
    creators = [
        op for op in ctx.spec.operations
        if op.method == "POST" and ctx.allowed(op) and not specutil.is_login(op) and not specutil.is_register(op)
        and specutil.body_schema(op) is not None and not specutil.looks_admin(op)
    ][:limit]  # fmt: skip
    for ident in ctx.identities[:2]:
        for op in creators:
            values = dict(ctx.subject_values(ident))
            for ref in ctx.owned_by(ident):
                for k, v in ref.values.items():
                    values.setdefault(k, v)
            req = ctx.request(op, values, identity=ident)
            if req is None:
                continue
            resp = yield req
            ctx.record(op, req, resp)
            if not resp.ok:
                continue
            doc = resp.json()
            body = req.json if isinstance(req.json, dict) else {}
            merged = {**body, **doc} if isinstance(doc, dict) and not _is_wrapper(doc) else body
            location = resp.header("location")
            item_path = location if location and location.startswith("/") else None
            refs = ctx.remember(ident, op, merged, created=True, item_path=item_path)
            # Read the new object back as its creator: the item read is then known to work
            # (and to refuse anonymous callers, for the auth check).
            for ref in refs[:1]:
                for rop in ctx.item_ops("GET"):
                    if not rop.path.startswith(op.path.rstrip("/") + "/"):
                        continue
                    back = ctx.request(rop, ref.values, identity=ident)
                    if back is not None:
                        got = yield back
                        ctx.record(rop, back, got)
                        break


def _is_wrapper(doc: dict[str, object]) -> bool:
    return any(isinstance(v, list) for v in doc.values())
