"""API4 unrestricted resource consumption.

*Rate limiting*: one read an identity was granted is sent ``--burst`` times as one
:class:`~cpragate.scanner.model.Burst` (8 at a time; the only requests not paced by
``--rate``; bounded by the burst size and the request budget). No 429/503, no ``Retry-After`` and no ``RateLimit``/``X-RateLimit`` header in
the whole burst means nothing throttles a client. A login is probed the same way with
wrong passwords (brute force), with half the burst.

*Page sizes*: list operations with a size-like query parameter (``limit``, ``per_page``,
``size``...) are asked for 100000 items. Accepted, with more items than the spec's
``maximum`` (or the API echoing the huge size), it is a finding; accepted against a
spec that sets no maximum is reported low.
"""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import Burst, CheckGen, HttpResponse, Severity

__all__ = ["NAME", "run", "run_rate_limit"]

NAME = "resources"
OWASP = "API4:2023"
_SIZE = re.compile(r"^(limit|size|page_?size|pagesize|per_?page|perpage|count|max|max_?results|top|first|take|page\[size\]|rows)$", re.I)
_HUGE = 100000


def _throttled(resp: HttpResponse) -> bool:
    if resp.status in (429, 503):
        return True
    return any(resp.header(h) is not None for h in ("retry-after", "ratelimit", "ratelimit-policy", "x-ratelimit-limit", "x-rate-limit-limit"))


def _count(doc: Any) -> int:
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        return max((len(v) for v in doc.values() if isinstance(v, list)), default=0)
    return 0


def run(ctx: ScanContext) -> CheckGen:
    """Page sizes."""
    seen: set[str] = set()
    for rec in list(ctx.recorded):
        op = rec.op
        if op.method != "GET" or op.path in seen:
            continue
        params = [p for p in op.parameters if p.location == "query" and _SIZE.match(p.name)]
        if not params:
            continue
        seen.add(op.path)
        p = params[0]
        schema = p.schema.schema if p.schema is not None else {}
        maximum = schema.get("maximum") if isinstance(schema, dict) else None
        req = copy.deepcopy(rec.request)
        req.query = [(k, v) for k, v in req.query if k != p.name] + [(p.name, str(_HUGE))]
        resp = yield req
        if not resp.ok:
            continue
        doc = resp.json()
        n = _count(doc)
        echoed = isinstance(doc, dict) and any(v == _HUGE for v in doc.values())
        bound = maximum if isinstance(maximum, int | float) else None
        if (bound is not None and n > bound) or echoed:
            sev, why = Severity.MEDIUM, f"returned {n} items" + (f" (the spec's maximum is {bound})" if bound is not None else "") + (
                f" and accepted {p.name}={_HUGE}" if echoed else "")
        elif bound is None:
            sev, why = Severity.LOW, f"accepted {p.name}={_HUGE} ({n} items returned) and the spec sets no maximum"
        else:
            continue
        ctx.report(
            "unbounded-page-size", OWASP, 770, sev, "Page size is not bounded", op,
            f"{op.method} {op.path} {why}.",
            f"Refuse (400) or clamp `{p.name}` above a fixed maximum and declare `maximum` in the spec; at the gateway: "
            "request validation enforces the spec's maximum.",
            [(req, resp)], key=p.name, policy={"max_page_size": {"param": p.name, "maximum": bound or 100}},
        )  # fmt: skip


def run_rate_limit(ctx: ScanContext) -> CheckGen:
    """The bounded burst; runs last so throttling cannot hide other findings."""
    n = ctx.options.burst
    if n <= 0:
        ctx.notes.append("resources: --burst 0, rate limiting not tested")
        return
    target = ctx.sample()
    if target is not None:
        reqs = tuple(copy.deepcopy(target.request) for _ in range(n))
        for r in reqs:
            r.burst = True
        answers: list[HttpResponse] = yield Burst(reqs)
        answered = [(q, r) for q, r in zip(reqs, answers, strict=True) if r.status != 0]
        if len(answered) == n and not any(_throttled(r) for _, r in answered):
            ctx.report(
                "no-rate-limit", OWASP, 770, Severity.MEDIUM, "No rate limiting", target.op,
                f"A burst of {n} requests by one client to {target.op.method} {target.op.path} was answered in full; none was "
                "throttled and no answer carried RateLimit or Retry-After headers.",
                "Limit requests per client and per credential (429 with Retry-After); at the gateway: `filters.ratelimit` "
                "`per_consumer` and `per_ip`.",
                [answered[-1]], key="burst", policy={"rate_limit": True}, operation="* /",
            )  # fmt: skip
    for op in [o for o in ctx.spec.operations if specutil.is_login(o)][:1]:
        props = specutil.declared_properties(op)
        uf, pf = specutil.user_field(props), specutil.password_field(props)
        if not uf or not pf:
            continue
        attempts = [ctx.request(op, {}, json={uf: "cpgscan" + secrets.token_hex(3), pf: "Wrong-" + secrets.token_hex(4)}) for _ in range(n)]
        reqs = tuple(a for a in attempts if a is not None)
        for r in reqs:
            r.burst = True
        if not reqs:
            continue
        answers = yield Burst(reqs)
        answered = [(q, r) for q, r in zip(reqs, answers, strict=True) if r.status != 0]
        if len(answered) == len(reqs) and not any(_throttled(r) for _, r in answered):
            ctx.report(
                "no-login-throttling", OWASP, 307, Severity.MEDIUM, "Login attempts are not throttled", op,
                f"{len(reqs)} failed logins in a burst were all answered without throttling: passwords can be brute-forced.",
                "Throttle failed logins per account and per client (and lock or add a challenge after a few); at the "
                "gateway: a tight `ratelimit` on this route.",
                [answered[-1]], key="login", policy={"rate_limit_login": True},
            )  # fmt: skip
