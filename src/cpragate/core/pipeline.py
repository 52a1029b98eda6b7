"""The filter chain of one route, and the rules it runs by.

Theory of operation:

1. The chain is built once per route at config load from the enabled filters whose
   ``applies_to(route)`` is true. Order is fixed and declared: request phase by
   ``priority`` descending with the name as tie-break; the response phase runs the
   same list reversed (Envoy: the response path unwinds the request path, so the
   filter nearest the upstream sees its body first); the complete phase by
   ``complete_priority`` (default ``priority``) descending.
2. The first verdict other than CONTINUE ends a phase; it is recorded as a Decision.
3. A filter that raises is a bug or an unmapped dependency failure. The chain fails
   closed: the exception is logged with the request id (not the message's values) and
   the verdict is ``Deny(FilterFailed)``. Filters with an ``on_error: allow`` policy
   handle their own dependency errors and never raise.
4. The complete phase runs after the response has been handed to the transport; each
   filter is isolated (one failing does not stop the others) and nothing it does can
   reach the client.
5. ``needs_request_body``/``needs_response_body`` are the OR over the chain: the data
   plane buffers a body only when some filter on the route declared it needs it (for
   requests asked per route, ``Filter.needs_request_body_on(route)``, when the chain is
   built for a route).
6. Fast paths: a filter may also implement ``request_now``/``response_now``, which
   decide synchronously or return None (having changed nothing). The data plane runs
   ``request_now``/``response_now`` first and awaits ``run_request(resume=True)``/
   ``run_response`` only from the first filter that could not decide, so a phase whose
   filters all decide at once creates no coroutine at all; past that filter, each later
   one is again tried through its fast path before its coroutine is made. The complete
   phase likewise: ``complete_now`` (True: done) first, ``run_complete(start)`` from the
   first filter that has to await.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, ResponseStream
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Respond, Verdict
from cpragate.errors import FilterFailed

__all__ = ["Pipeline", "order_filters"]

log = logging.getLogger("cpragate.pipeline")


def order_filters(filters: list[Filter]) -> list[Filter]:
    """Request-phase order: priority descending, then name."""
    return sorted(filters, key=lambda f: (-f.priority, f.name))


class Pipeline:
    """The ordered filters of one route and the three phase runners."""

    __slots__ = (
        "complete_filters",
        "complete_plan",
        "filters",
        "needs_request_body",
        "needs_response_body",
        "request_filters",
        "response_filters",
    )

    def __init__(self, filters: list[Filter], route: RouteInfo | None = None) -> None:
        ordered = order_filters(filters)
        self.filters: tuple[Filter, ...] = tuple(ordered)
        # The third item: the filter's fast path as a callable taken once here (None: it has
        # none). Called through it, a phase costs one call; ``f.request_now(ex)`` looked the
        # method up on the filter's type and instance first (~100-250 instructions, ~23
        # times per request under the demo policy). Filters set their fast paths in
        # ``__init__``, before a pipeline holds them.
        self.request_filters: tuple[tuple[int, Filter, Callable[[Exchange], Verdict | None] | None], ...] = tuple(
            (i + 1, f, f.request_now if type(f).implements("request_now") else None)
            for i, f in enumerate(ordered)
            if type(f).implements("on_request")
        )
        self.response_filters: tuple[tuple[int, Filter, Callable[[Exchange], Verdict | None] | None], ...] = tuple(
            (i, f, f.response_now if type(f).implements("response_now") else None)
            for i, f in reversed(list(enumerate(ordered)))
            if type(f).implements("on_response")
        )
        done = [f for f in ordered if type(f).implements("on_complete")]
        done.sort(
            key=lambda f: (
                -(f.complete_priority if f.complete_priority is not None else f.priority),
                f.name,
            )
        )
        self.complete_filters = tuple(done)
        self.complete_plan: tuple[tuple[Filter, Callable[[Exchange], bool] | None], ...] = tuple(
            (f, f.complete_now if type(f).implements("complete_now") else None) for f in done
        )
        self.needs_request_body = any(
            f.needs_request_body_on(route) if route is not None else f.needs_request_body for f in ordered
        )
        self.needs_response_body = any(f.needs_response_body for f in ordered)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.filters]

    def response_stream(self, ex: Exchange) -> ResponseStream | None:
        """A stream rewriter for a response too large to buffer, or None.

        Only when exactly one filter of the chain needs the response body (a second one
        could not see it) and that filter can stream it. Called off the hot path, once
        per oversized response.
        """
        readers = [f for f in self.filters if f.needs_response_body]
        return readers[0].open_response_stream(ex) if len(readers) == 1 else None

    def request_now(self, ex: Exchange) -> Verdict | None:
        """The request phase run synchronously through the filters' ``request_now``.

        None when a filter has to await: ``ex.filters_seen`` then names it and
        ``run_request(ex, resume=True)`` goes on from it (nothing before it runs twice).
        Exceptions fail closed exactly as in ``run_request``.
        """
        for seen, f, fast in self.request_filters:
            ex.filters_seen = seen
            if fast is None:
                return None
            try:
                v = fast(ex)
            except Exception:
                return _failed(ex, f.name, "request")
            if v is None:
                return None
            if v is not CONTINUE:
                _record(ex, f.name, v)
                return v
        ex.filters_seen = len(self.filters)
        return CONTINUE

    async def run_request(self, ex: Exchange, resume: bool = False, fast: bool = True) -> Verdict:
        """Run the request phase; ``ex.filters_seen`` tells the response phase where to unwind from.

        ``resume``: go on from the filter where ``request_now`` stopped. ``fast=False``:
        every filter's coroutine, never its fast path (tests of the awaited paths).
        """
        start = ex.filters_seen if resume else 0
        ex.filters_seen = len(self.filters)
        for seen, f, has_fast in self.request_filters:
            if seen < start:
                continue
            ex.filters_seen = seen
            try:
                # After a filter that had to await, the later ones still try their fast path
                # first: no coroutine for a filter that can decide at once.
                now = has_fast(ex) if has_fast is not None and fast and seen > start else None
                v = now if now is not None else await f.on_request(ex)
            except Exception:
                return _failed(ex, f.name, "request")
            if v is not CONTINUE:
                _record(ex, f.name, v)
                return v
        ex.filters_seen = len(self.filters)
        return CONTINUE

    def response_now(self, ex: Exchange) -> Verdict | None:
        """The response phase run synchronously through the filters' ``response_now``.

        None when a filter has to await: ``ex.filters_seen`` is then set so that
        ``run_response(ex)`` goes on from that filter (the ones before it are done).
        """
        seen = ex.filters_seen
        for pos, f, fast in self.response_filters:
            if pos >= seen:
                continue
            if fast is None:
                ex.filters_seen = pos + 1
                return None
            try:
                v = fast(ex)
            except Exception:
                return _failed(ex, f.name, "response")
            if v is None:
                ex.filters_seen = pos + 1
                return None
            if v is not CONTINUE:
                _record(ex, f.name, v)
                return v
        return CONTINUE

    async def run_response(self, ex: Exchange, fast: bool = True) -> Verdict:
        """Run the response phase over the filters that saw the request, in reverse.

        Each filter's fast path is tried first, but for the one ``response_now`` stopped
        at (``fast=False``: none, as for ``run_request``).

        After a request-phase Deny/Respond the gateway-made response unwinds through the
        filters before the one that decided (and that one), like Envoy's local replies,
        so CORS and security headers are on refusals too.
        """
        seen = ex.filters_seen
        for pos, f, has_fast in self.response_filters:
            if pos >= seen:
                continue
            try:
                now = has_fast(ex) if has_fast is not None and fast and pos < seen - 1 else None
                v = now if now is not None else await f.on_response(ex)
            except Exception:
                return _failed(ex, f.name, "response")
            if v is not CONTINUE:
                _record(ex, f.name, v)
                return v
        return CONTINUE

    def complete_now(self, ex: Exchange) -> int:
        """The complete phase run synchronously through the filters' ``complete_now``, up
        to the first filter that has to await: its position, from which
        ``run_complete(ex, start)`` goes on (``len(complete_filters)``: all done). Each
        filter is isolated as in ``run_complete``."""
        i = 0
        for f, fast in self.complete_plan:
            if fast is None:
                return i
            try:
                if not fast(ex):
                    return i
            except Exception:
                log.exception("filter %s failed in complete phase (request %s)", f.name, ex.request_id)
            i += 1
        return i

    async def run_complete(self, ex: Exchange, start: int = 0, fast: bool = True) -> None:
        """The complete phase from position ``start`` (where ``complete_now`` stopped: that
        filter is awaited, each later one tries its fast path first; ``fast=False``: none)."""
        i = 0
        for f, has_fast in self.complete_plan:
            if i < start:
                i += 1
                continue
            try:
                if not (has_fast is not None and fast and i > start and has_fast(ex)):
                    await f.on_complete(ex)
            except Exception:
                log.exception("filter %s failed in complete phase (request %s)", f.name, ex.request_id)
            i += 1


def _failed(ex: Exchange, name: str, phase: str) -> Verdict:
    """A filter raised: logged with the request id (not the message's values), fail closed."""
    log.exception("filter %s failed in %s phase (request %s)", name, phase, ex.request_id)
    ex.decide(name, "error", "exception")
    return Deny(FilterFailed, rule=f"{name}:exception")


def _record(ex: Exchange, name: str, v: Verdict) -> None:
    if isinstance(v, Deny):
        ex.decide(name, "deny", v.rule or v.error.code)
    elif isinstance(v, Respond):
        ex.decide(name, "respond", str(v.response.status))
