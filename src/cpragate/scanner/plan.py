"""``cpragate scan --dry-run``: what a scan would exercise, from the spec alone, without
sending anything -- for reviewing a scan before pointing it at an environment."""

from __future__ import annotations

from cpragate.openapi import Spec
from cpragate.scanner import specutil
from cpragate.scanner.checks import bfla, ssrf
from cpragate.scanner.context import ScanContext, ScanOptions

__all__ = ["plan"]


def plan(spec: Spec, *, unsafe_methods: bool = False, identities: int = 0) -> str:
    """A readable plan: operations per check, and what is skipped and why."""
    ctx = ScanContext(spec, [], options=ScanOptions(unsafe_methods=unsafe_methods))
    ops = spec.operations

    def names(items: list[str]) -> str:
        return ", ".join(items) if items else "(none)"

    lines = [f"cpragate scan plan for {spec.title} {spec.version}: {len(ops)} operations, {identities} identities"]
    lines.append(f"  discovery reads : {names([op.path for op in ctx.collection_ops()])}")
    creators = [op.path for op in ops if op.method == "POST" and ctx.allowed(op) and not specutil.is_login(op)
                and not specutil.is_register(op) and specutil.body_schema(op) is not None and not specutil.looks_admin(op)]  # fmt: skip
    lines.append(f"  creates         : {names(creators)}")
    lines.append(f"  BOLA item ops   : {names([f'{op.method} {op.path}' for op in ctx.item_ops('GET')])}"
                 + ("" if identities >= 2 else "  (needs two identities)"))  # fmt: skip
    if unsafe_methods:
        writes = [f"{op.method} {op.path}" for m in ("PUT", "PATCH", "DELETE") for op in ctx.item_ops(m)]
        lines.append(f"  BOLA writes     : {names(writes)} (objects the scan created only)")
    lines.append(f"  logins          : {names([op.path for op in ops if specutil.is_login(op)])}")
    lines.append(f"  registrations   : {names([op.path for op in ops if specutil.is_register(op)])}")
    writes = [f"{op.method} {op.path}" for op in ops if op.method in ("POST", "PUT", "PATCH") and ctx.allowed(op)
              and specutil.body_schema(op) is not None and not specutil.is_login(op)]  # fmt: skip
    lines.append(f"  mass assignment : {names(writes)}")
    lines.append(f"  admin (BFLA)    : {names([f'{op.method} {op.path}' for op in bfla.admin_operations(ctx)])}")
    urls = [f"{op.method} {op.path} {where}.{name}" for op in ops if ctx.allowed(op) for where, name in ssrf.url_inputs(op)]
    lines.append(f"  URL inputs      : {names(urls)}")
    skipped = [f"{op.method} {op.path}" for op in ops if not ctx.allowed(op)]
    lines.append(f"  never sent      : {names(skipped)}" + ("" if unsafe_methods else "  (destructive; --unsafe-methods)"))
    lines.append("  also: forged and missing credentials, page sizes, the rate-limit burst, TLS and headers, CORS, "
                 "error pages, undocumented paths, SQL/NoSQL probes")  # fmt: skip
    return "\n".join(lines) + "\n"
