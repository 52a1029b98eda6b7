"""API5 broken function level authorization.

Operations that look administrative -- a path segment, tag or operationId such as
``admin``, ``internal``, ``manage``, ``debug``, or security scopes naming an admin role --
are called by every identity given (identities are treated as ordinary users unless
named with ``--admin NAME``). An answer in 2xx is a finding. Destructive admin operations
are only called with ``--unsafe-methods``.
"""

from __future__ import annotations

import re

from cpragate.openapi import Operation
from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import CheckGen, Severity

__all__ = ["NAME", "admin_operations", "run"]

NAME = "bfla"
OWASP = "API5:2023"


def admin_operations(ctx: ScanContext) -> list[Operation]:
    out = []
    for op in ctx.spec.operations:
        scoped = any(re.search(r"admin|manage|internal|superuser", s, re.I) for req in op.security for scopes in req.values() for s in scopes)
        if (specutil.looks_admin(op) or scoped) and ctx.allowed(op):
            out.append(op)
    return out[: ctx.options.max_ops_per_check]


def run(ctx: ScanContext) -> CheckGen:
    users = [i for i in ctx.identities if i.name not in ctx.options.admins]
    if not users:
        ctx.notes.append("bfla: every identity is marked --admin; not tested")
        return
    for op in admin_operations(ctx):
        for ident in users:
            values = dict(ctx.subject_values(ident))
            for ref in ctx.objects:
                for k, v in ref.values.items():
                    values.setdefault(k, v)
            req = ctx.request(op, values, identity=ident)
            if req is None:
                continue
            resp = yield req
            ctx.record(op, req, resp)
            if resp.granted:
                ctx.report(
                    "bfla", OWASP, 285, Severity.HIGH, "An administrative operation is callable by an ordinary user", op,
                    f"Identity {ident.name!r} (an ordinary user) called {op.method} {op.path} and got HTTP {resp.status}.",
                    "Check the caller's role or scope on every administrative function, deny by default; at the gateway: "
                    "`authz.scopes` (or roles) on this route.",
                    [(req, resp)], key="call", policy={"bfla": {"scopes": ["admin"]}},
                )  # fmt: skip
                break
