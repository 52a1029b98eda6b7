"""The Filter base class: one capability, its config model, its phase methods.

A filter subclasses :class:`Filter`, sets ``name``, ``priority`` and ``Config`` (a
pydantic model with ``extra="forbid"``), and overrides only the phases it needs:

* ``on_request(exchange) -> Verdict`` — before the upstream is called.
* ``on_response(exchange) -> Verdict`` — after the upstream answered, before the
  client sees anything; may rewrite ``exchange.response`` (its body only when
  ``needs_response_body`` is set, otherwise the body is still streaming).
* ``on_complete(exchange) -> None`` — after the response was sent; observe only.

Phase methods are ``async`` and may await only what the filter was handed in its
``FilterContext`` (storage Protocols, fetchers, the clock). They never do I/O
themselves and never raise to reject: they return a Verdict.

Order (core.pipeline): request phase by priority descending (name breaks ties),
response phase in the reverse order, complete phase by ``complete_priority``
descending. See the table in DESIGN.md for the priorities of the built-in filters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from cpragate.core.clock import Clock, SystemClock
from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict

__all__ = ["Filter", "FilterConfig", "FilterContext", "ResponseStream"]


class FilterConfig(BaseModel):
    """Base for every filter's config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class FilterContext:
    """What a filter is handed at construction; the only things it may await."""

    clock: Clock = field(default_factory=SystemClock)
    stores: Any = None
    """A ``cpragate.storage.Stores`` bundle (Protocols only), or None in pure tests."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("cpragate.filter"))


class ResponseStream(Protocol):
    """Rewrites a response body too large to buffer, chunk by chunk (sans-IO).

    ``feed`` returns the bytes ready to send; ``close`` the rest at the end of the body.
    Both raise a ``GatewayError`` to refuse the response: the data plane answers it if
    nothing was sent yet and aborts the connection otherwise.
    """

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...


class Filter:
    """Base class of every filter; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    complete_priority: ClassVar[int | None] = None
    Config: ClassVar[type[FilterConfig]] = FilterConfig

    needs_request_body: bool = False
    needs_response_body: bool = False

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        self.config = config
        self.ctx = ctx

    def applies_to(self, route: RouteInfo) -> bool:
        """Whether this filter runs on ``route`` (default: every route it is enabled on)."""
        return True

    async def on_request(self, exchange: Exchange) -> Verdict:
        return CONTINUE

    async def on_response(self, exchange: Exchange) -> Verdict:
        return CONTINUE

    async def on_complete(self, exchange: Exchange) -> None:
        return None

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """Optional synchronous fast path of ``on_request``: its verdict, or None when it
        cannot decide without awaiting. On None it must have changed nothing: the
        pipeline then awaits ``on_request`` for this filter (and the rest of the phase).
        Only override it together with ``on_request``; the pipeline skips filters that
        do not (an unsuspended coroutine still costs a frame, a send and a StopIteration).
        """
        return None

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """Optional synchronous fast path of ``on_response`` (same contract as ``request_now``)."""
        return None

    def complete_now(self, exchange: Exchange) -> bool:
        """Optional synchronous fast path of ``on_complete``: True when it did the whole
        phase; False having done nothing (the pipeline then awaits ``on_complete``).
        Only override it together with ``on_complete``."""
        return False

    def needs_request_body_on(self, route: RouteInfo) -> bool:
        """Whether this filter reads ``route``'s request bodies (default: ``needs_request_body``).

        A filter whose per-route settings decide it overrides this, so routes that do not
        need it are not buffered.
        """
        return self.needs_request_body

    def open_response_stream(self, exchange: Exchange) -> ResponseStream | None:
        """A rewriter for a response body larger than the route's ``max_body_bytes``.

        Asked (before the response phase, which then sees no body) only of the one filter
        on a route that ``needs_response_body``; None (the default) applies the route's
        ``on_body_too_large``.
        """
        return None

    @classmethod
    def implements(cls, phase: str) -> bool:
        """Whether the subclass overrides the phase method ``phase`` (on_request, ...)."""
        return getattr(cls, phase) is not getattr(Filter, phase)

    def __repr__(self) -> str:
        return f"<filter {self.name} priority={self.priority}>"
