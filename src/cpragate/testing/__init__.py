"""Public test helpers (like mitmproxy.test): build requests, run a filter, fake time.

    from cpragate.testing import make_request, make_exchange, run_filter, FakeClock

``run_filter`` drives one filter through the phases with plain objects — no sockets —
and returns the verdicts. ``MockUpstream`` (``cpragate.server.origin.OriginServer``) is a
real loopback HTTP server for end-to-end tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.normalize import normalize_path, split_target
from cpragate.core.pipeline import Pipeline
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import Verdict
from cpragate.server.origin import OriginServer as MockUpstream

__all__ = [
    "FakeClock",
    "FilterRun",
    "MockUpstream",
    "make_exchange",
    "make_request",
    "make_response",
    "run_filter",
    "run_pipeline",
]


def _headers(h: Iterable[tuple[str | bytes, str | bytes]] | dict[str, str] | None) -> Headers:
    if h is None:
        return Headers()
    items = h.items() if isinstance(h, dict) else h
    return Headers(
        [
            (n.encode("latin-1") if isinstance(n, str) else n, v.encode("latin-1") if isinstance(v, str) else v)
            for n, v in items
        ]
    )


def make_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str | bytes, str | bytes]] | dict[str, str] | None = None,
    body: bytes | None = None,
) -> Request:
    """A request as the data plane would build it (canonical path included)."""
    raw, query = split_target(target.encode("ascii"))
    return Request(method, raw, normalize_path(raw), query, _headers(headers), body)


def make_response(
    status: int = 200,
    headers: Iterable[tuple[str | bytes, str | bytes]] | dict[str, str] | None = None,
    body: bytes | None = None,
) -> Response:
    return Response(status, _headers(headers), body)


def make_exchange(
    request: Request | None = None,
    *,
    route: RouteInfo | None = None,
    scheme: str = "https",
    client_ip: str = "203.0.113.7",
    request_id: str = "test-1",
) -> Exchange:
    return Exchange(request or make_request(), request_id, client_ip=client_ip, scheme=scheme, route=route)


@dataclass
class FilterRun:
    """What happened when a filter ran: the verdicts and the exchange afterwards."""

    request: Verdict
    response: Verdict | None
    exchange: Exchange


def run_filter(
    filter_cls: type[Filter],
    config: FilterConfig | dict[str, object] | None = None,
    exchange: Exchange | None = None,
    response: Response | None = None,
    ctx: FilterContext | None = None,
) -> FilterRun:
    """Run ``filter_cls`` through request, (response,) complete on plain objects."""
    cfg = config if isinstance(config, FilterConfig) else filter_cls.Config.model_validate(config or {})
    f = filter_cls(cfg, ctx or FilterContext(clock=FakeClock()))
    ex = exchange or make_exchange()
    return asyncio.run(_run(Pipeline([f]), ex, response))


def run_pipeline(
    filters: list[Filter], exchange: Exchange, response: Response | None = None, fast: bool = True
) -> FilterRun:
    """Run a chain like the data plane does: request, then response (or unwind), then complete.

    ``fast`` (the data plane's way): the filters' ``request_now``/``response_now`` first,
    awaiting only from the first filter that cannot decide at once; False: always await.
    """
    return asyncio.run(_run(Pipeline(filters), exchange, response, fast))


async def _run(p: Pipeline, ex: Exchange, response: Response | None, fast: bool = True) -> FilterRun:
    from cpragate.core.problem import problem_response
    from cpragate.core.verdict import CONTINUE, Deny, Respond

    async def respond() -> Verdict:
        rv = p.response_now(ex) if fast else None
        return rv if rv is not None else await p.run_response(ex, fast=fast)

    v = p.request_now(ex) if fast else None
    if v is None:
        v = await p.run_request(ex, resume=fast, fast=fast)
    rv: Verdict | None = None
    if v is CONTINUE:
        if response is not None:
            ex.response = response
            rv = await respond()
    elif isinstance(v, Deny):
        ex.response = problem_response(v.error, ex.request_id, v.status, v.headers, v.violations)
        rv = await respond()
    elif isinstance(v, Respond):
        ex.response = v.response
        rv = await respond()
    at = p.complete_now(ex) if fast else 0
    await p.run_complete(ex, at, fast=fast)
    return FilterRun(v, rv, ex)
