"""Response conformance: what the API answers must be what its OpenAPI spec declares.

Theory of operation (one response on a route bound to an operation):

1. The response object is the operation's entry for the status (exact, ``4XX``, then
   ``default``) and the media type of the response's Content-Type. A status or media
   type the spec does not declare, a schema-less or non-JSON entry, or a body that was
   not buffered (too large with ``pass_uninspected``) is recorded as ``unchecked`` and
   forwarded: the spec gives nothing to check it against.
2. The body is parsed once (``core.jsonbody``, shared with minimize and pii, which run
   after this filter on the response path). Properties the schema does not declare —
   internal fields the API should never have exposed (``password_hash``) — are removed
   (``enforce``) or only recorded (``monitor``), by path with array indexes as ``*``.
   The body is re-serialized only when something was removed.
3. Other schema violations (types, required, enums) are recorded and logged as pointers
   and rules, never values; ``on_violation: block`` withholds the response (502).
4. A body the spec declares JSON that does not parse follows ``on_error`` (default
   ``deny``: 502, CPG-VAL-006).

Large list responses are bounded by the route's ``max_body_bytes``: the data plane
never buffers more, and beyond it applies ``on_body_too_large``.
"""

from __future__ import annotations

from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import Verdict
from cpragate.filters.validation.config import ConformanceConfig
from cpragate.filters.validation.fastpath import ConformanceFast, conformance_settings, path_template
from cpragate.filters.validation.filter import binding_of

__all__ = ["ConformanceFilter", "path_template"]


class ConformanceFilter(Filter):
    name = "conformance"
    priority = 200
    Config: ClassVar[type[FilterConfig]] = ConformanceConfig
    needs_response_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, ConformanceConfig)
        self.cfg = config
        self._fast = ConformanceFast(config, self.name)
        self._plans = self._fast.plans
        # The pipeline calls the compiled method directly (fastpath.py): no Python frame.
        self.response_now = self._fast.response_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        binding = binding_of(route)
        if binding is None or binding.resolved is None:
            return False
        rs = conformance_settings(route)
        if rs is not None and rs.enabled is False:
            return False
        return any(m.schema is not None for r in binding.resolved.responses.values() for m in r.content.values())

    def response_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs synchronously (bound to fastpath.py in __init__)."""
        return self._fast.response_now(exchange)

    async def on_response(self, exchange: Exchange) -> Verdict:
        return self._fast.response_now(exchange)
