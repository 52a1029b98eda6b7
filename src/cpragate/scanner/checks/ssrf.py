"""API7 server side request forgery.

Parameters and body properties that carry a URL (``format: uri``, or named ``url``,
``callback``, ``webhook``, ``image``, ``redirect``...) are set to a URL of the local canary
listener the scanner started, each with its own random token. A request for that token
reaching the canary means the API fetches URLs its clients choose. The scanner itself
only ever talks to the target; the canary only listens.
"""

from __future__ import annotations

import re
from typing import Any

from cpragate.openapi import Operation
from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import CanaryPoll, CheckGen, Severity

__all__ = ["NAME", "run", "url_inputs"]

NAME = "ssrf"
OWASP = "API7:2023"
_URL_NAME = re.compile(
    r"(url|uri|link|href|callback|webhook|redirect|image|avatar|picture|src|endpoint|feed|fetch|target|dest|host|_api$|api_?(base|addr))",
    re.I,
)


def _is_url(name: str, schema: Any) -> bool:
    fmt = str(schema.get("format") or "").lower() if isinstance(schema, dict) else ""
    if fmt in ("uri", "url", "iri", "uri-reference"):
        return True
    sample = schema.get("example", schema.get("default")) if isinstance(schema, dict) else None
    if isinstance(sample, str) and sample.startswith(("http://", "https://")):
        return True
    return bool(_URL_NAME.search(name)) and (not isinstance(schema, dict) or schema.get("type") in (None, "string"))


def url_inputs(op: Operation) -> list[tuple[str, str]]:
    """(location, name) of every URL-typed input of ``op``: ``query``/``body``."""
    out = [("query", p.name) for p in op.parameters if p.location == "query" and _is_url(p.name, p.schema.schema if p.schema else {})]
    out += [("body", k) for k, v in specutil.declared_properties(op).items() if _is_url(k, v)]
    return out


def run(ctx: ScanContext) -> CheckGen:
    base = ctx.options.canary_url
    candidates = [(op, where, name) for op in ctx.spec.operations if ctx.allowed(op) for where, name in url_inputs(op)]
    if not candidates:
        return
    if base is None:
        ctx.notes.append("ssrf: no canary listener (--no-canary); URL parameters not probed")
        return
    for op, where, name in candidates[: ctx.options.max_ops_per_check]:
        ident = ctx.identities[0] if ctx.identities else None
        token = specutil.marker()
        url = f"{base.rstrip('/')}/{token}"
        values: dict[str, Any] = dict(ctx.subject_values(ident)) if ident else {}
        for ref in ctx.owned_by(ident) if ident else []:
            for k, v in ref.values.items():
                values.setdefault(k, v)
        req = ctx.request(op, values, identity=ident)
        if req is None:
            continue
        if where == "query":
            req.query = [(k, v) for k, v in req.query if k != name] + [(name, url)]
        elif isinstance(req.json, dict):
            req.json[name] = url
        else:
            continue
        resp = yield req
        ctx.record(op, req, resp)
        hits = yield CanaryPoll(token, wait=1.5)
        if hits:
            ctx.report(
                "ssrf", OWASP, 918, Severity.HIGH, "The API fetches URLs chosen by the client", op,
                f"The URL given in {where} `{name}` was fetched by the server (the scanner's canary received a request for "
                "its token): the API can be made to reach internal services and cloud metadata.",
                "Fetch only allow-listed hosts and schemes, resolve and refuse private, loopback and link-local addresses, "
                "disable redirects; at the gateway: a `pattern`/`format` restriction on this field in the spec.",
                [(req, resp, f"canary received {len(hits)} request(s)")], key=name, policy={"ssrf_field": {where: name}},
            )  # fmt: skip
