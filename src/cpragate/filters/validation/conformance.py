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

import logging
from typing import Any, ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import response_json, set_response_json, writable_response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import ResponseNonConforming
from cpragate.filters.validation.config import ConformanceConfig
from cpragate.filters.validation.fastpath import ConformanceFast, conformance_settings
from cpragate.filters.validation.filter import binding_of
from cpragate.filters.validation.report import ConformanceReport
from cpragate.openapi import pointer as jp

__all__ = ["ConformanceFilter", "path_template"]

log = logging.getLogger("cpragate.filter.conformance")

_MAX_VIOLATIONS = 20


def path_template(doc: Any, pointer: str) -> str:
    """``pointer`` with every array index written ``*`` (``/items/3/ssn`` -> ``/items/*/ssn``).

    Walks ``doc`` so an object key made of digits is kept as the key it is.
    """
    out: list[str] = []
    node = doc
    for token in jp.parse(pointer):
        if isinstance(node, list):
            out.append("*")
            node = node[int(token)] if token.isdigit() and int(token) < len(node) else None
        else:
            out.append(jp.escape(token))
            node = node.get(token) if isinstance(node, dict) else None
    return "".join("/" + t for t in out)


class ConformanceFilter(Filter):
    name = "conformance"
    priority = 200
    Config: ClassVar[type[FilterConfig]] = ConformanceConfig
    needs_response_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, ConformanceConfig)
        self.cfg = config
        self._fast = ConformanceFast(config, self._respond)
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

    def _respond(self, exchange: Exchange, unclean: bool) -> Verdict:
        """The response phase in full (fastpath.py decides the common case itself);
        ``unclean``: the fast path has already seen the clean check fail on this body."""
        resp = exchange.response
        plan = self._fast.plan(exchange.route) if exchange.route is not None else None
        if plan is None or resp is None or exchange.outcome == "denied" or exchange.error_code is not None:
            return CONTINUE  # a gateway-made refusal is not the API's answer
        report = ConformanceReport(plan.label, plan.mode, resp.status)
        exchange.conformance = report
        unchecked, schema, is_clean = plan.schema_for(resp.status, resp.headers.get(b"content-type"))
        if unchecked == "undeclared_status":
            return self._unchecked(report, unchecked)
        if not resp.body:
            return self._unchecked(report, "no_body")
        if schema is None:
            return self._unchecked(report, unchecked)
        try:
            doc = response_json(exchange)
        except ValueError:
            report.reason = "not_json"
            if plan.fail_open:
                report.outcome = "unchecked"
                log.warning("%s: response declared JSON does not parse; forwarded (on_error: allow, request %s)",
                            plan.label, exchange.request_id)
                return CONTINUE
            report.outcome = "withheld"
            return Deny(ResponseNonConforming, rule="conformance:not_json")
        if not unclean and is_clean(doc):
            return CONTINUE  # valid and nothing undeclared: one Rust call, the common case
        if plan.enforce:
            # One walk that finds and removes (after a Rust call that answers "nothing
            # undeclared" when only the schema is broken).
            doc = writable_response_json(exchange)
            removed = schema.strip_undeclared(doc)
            if removed:
                # Templates are computed after removal: the parents of a removed member remain.
                for p in removed:
                    t = path_template(doc, p)
                    report.removed[t] = report.removed.get(t, 0) + 1
                set_response_json(exchange, doc)
                report.outcome = "removed"
                exchange.decide(self.name, "remove", f"conformance:undeclared:{len(removed)}")
        else:
            found = schema.undeclared(doc)
            for p in found:
                t = path_template(doc, p)
                report.removed[t] = report.removed.get(t, 0) + 1
            if found:
                report.outcome = "would_remove"
                exchange.decide(self.name, "would_remove", f"conformance:undeclared:{len(found)}")
        if not schema.is_valid(doc):
            report.violations = tuple(schema.validate(doc, limit=_MAX_VIOLATIONS))
            rules = ", ".join(f"{v.pointer or '/'} {v.rule}" for v in report.violations[:5])
            log.warning("%s: %d response schema violation(s) (%s) (request %s)",
                        plan.label, len(report.violations), rules, exchange.request_id)
            if plan.block:
                if plan.enforce:
                    report.outcome = "withheld"
                    return Deny(ResponseNonConforming, rule="conformance:schema")
                exchange.decide(self.name, "would_deny", "conformance:schema")
        return CONTINUE

    @staticmethod
    def _unchecked(report: ConformanceReport, reason: str) -> Verdict:
        report.outcome = "unchecked"
        report.reason = reason
        return CONTINUE
