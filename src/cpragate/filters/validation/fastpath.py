"""Request validation's and response conformance's per-request work, compiled with mypyc
(group ``dataplane`` in cpragate/_accel.py; this source runs as is when the build is
missing or stale).

Request side: :class:`ValidationFast` (bound as the validation filter's ``request_now``)
decides the common request of a spec-bound route itself — no query string, no body,
only plain path parameters (``/customers/{id}``), each valid for its schema — with one
Rust call per parameter and nothing interpreted; anything else (a query, a body, a
header or cookie parameter, a path parameter that does not coerce or validate) goes to
the filter's full request phase (``ValidationFilter._request``), which reports it.

Why: :class:`~cpragate.filters.validation.conformance.ConformanceFilter` inherits the
interpreted ``Filter`` base, so its response phase ran interpreted for every response of
a spec-bound route. Here the route's plan is a native class (read once per route) and
:meth:`ConformanceFast.response_now` (bound as the filter's ``response_now``) decides the
common case — a buffered JSON body the schema's single clean check accepts — with one
Rust call after the shared parse; everything else (unchecked, undeclared properties,
schema violations, a body that does not parse) goes to :meth:`ConformanceFast.full`,
compiled too since session 11 (the demo API's own answer leaks two undeclared fields, so
every demo response takes it), which builds every report, decision and Deny in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, Literal

from cpragate.core.exchange import Exchange
from cpragate.core.jsonbody import response_json, set_response_json, writable_response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import ResponseNonConforming
from cpragate.filters.validation.config import ConformanceConfig, ConformanceRouteSettings, OpenApiBinding
from cpragate.filters.validation.filter import binding_of, is_json_media, operation_label
from cpragate.filters.validation.report import ConformanceReport, ValidationReport
from cpragate.openapi import pointer as jp
from cpragate.openapi.model import CompiledSchema, Operation
from cpragate.openapi.params import coerce_scalar

__all__ = [
    "ConformanceFast", "ConformancePlan", "PathScalar", "ValidationFast", "ValidationFastPlan", "conformance_settings",
    "path_template",
]

log = logging.getLogger("cpragate.filter.conformance")

_MAX_VIOLATIONS: Final = 20

_CONTINUE: Final = CONTINUE
"""A module constant (a C static, compiled): the imported name is a dict lookup per use."""

_MEDIA_CACHE: Final = 64
"""Most (status, Content-Type) resolutions remembered per route; cleared when full."""

_PLANS_MAX: Final = 10_000


def conformance_settings(route: RouteInfo | None) -> ConformanceRouteSettings | None:
    settings = route.settings if route is not None else None
    s = getattr(settings, "conformance", None)
    return s if isinstance(s, ConformanceRouteSettings) else None


def _unclean(doc: Any) -> bool:
    return False


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


class ConformancePlan:
    """What one route needs, derived once from the global and route settings."""

    def __init__(self, cfg: ConformanceConfig, binding: OpenApiBinding, rs: ConformanceRouteSettings | None) -> None:
        op = binding.resolved
        assert op is not None
        self.binding = binding
        self.source: object = None
        """The route settings object the plan was made from (a new config makes a new plan)."""
        self.op: Operation = op
        self.label = operation_label(op)
        self.enforce = ((rs.mode if rs else None) or cfg.mode) == "enforce"
        self.block = ((rs.on_violation if rs else None) or cfg.on_violation) == "block"
        self.fail_open = ((rs.on_error if rs else None) or cfg.on_error) == "allow"
        self.mode: Literal["enforce", "monitor"] = "enforce" if self.enforce else "monitor"
        self.media: dict[tuple[int, bytes | None], tuple[str, CompiledSchema | None, Callable[[Any], bool]]] = {}

    def schema_for(
        self, status: int, content_type: bytes | None
    ) -> tuple[str, CompiledSchema | None, Callable[[Any], bool]]:
        """(why unchecked, or ""), the schema for a response status and Content-Type, and its
        ``is_clean`` as one callable kept per route (``CompiledSchema.clean_check``)."""
        key = (status, content_type)
        found = self.media.get(key)
        if found is None:
            found = self._resolve(status, content_type)
            if len(self.media) >= _MEDIA_CACHE:
                self.media.clear()
            self.media[key] = found
        return found

    def _resolve(
        self, status: int, content_type: bytes | None
    ) -> tuple[str, CompiledSchema | None, Callable[[Any], bool]]:
        declared = self.op.response_for(status)
        if declared is None:
            return "undeclared_status", None, _unclean
        media = declared.media_type(content_type.decode("latin-1") if content_type is not None else None)
        if media is None:
            return "undeclared_media_type", None, _unclean
        schema = media.schema
        if schema is None or not is_json_media(media.media_type):
            return "no_json_schema", None, _unclean
        return "", schema, schema.clean_check()


class ConformanceFast:
    """The plans per route and the common case of the response phase (module docstring)."""

    def __init__(
        self, cfg: ConformanceConfig, name: str = "conformance", slow: Callable[[Exchange, bool], Verdict] | None = None
    ) -> None:
        self.cfg = cfg
        self.name = name
        """The filter's name, in the decisions this records."""
        self.slow: Callable[[Exchange, bool], Verdict] = slow if slow is not None else self.full
        """The full response phase (:meth:`full`; tests hand another), for everything but
        the common case (its flag: the clean check already failed on this body, so it is
        not asked twice)."""
        self.plans: dict[int, ConformancePlan] = {}

    def plan(self, route: RouteInfo) -> ConformancePlan | None:
        plan = self.plans.get(id(route))
        if plan is not None and plan.source is route.settings:
            return plan  # the hot path: no pydantic attribute access per request
        binding = binding_of(route)
        if binding is None:
            return None
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        plan = self.plans[id(route)] = ConformancePlan(self.cfg, binding, conformance_settings(route))
        plan.source = route.settings
        return plan

    def response_now(self, exchange: Exchange) -> Verdict:
        """The response phase: never awaits (the common case here, the rest in the filter)."""
        resp = exchange.response
        route = exchange.route
        plan = self.plan(route) if route is not None else None
        if plan is None or resp is None or exchange.outcome == "denied" or exchange.error_code is not None:
            return _CONTINUE  # a gateway-made refusal is not the API's answer
        if resp.body:
            _, schema, is_clean = plan.schema_for(resp.status, resp.headers.get(b"content-type"))
            if schema is not None:
                try:
                    doc = response_json(exchange)
                except ValueError:
                    return self.slow(exchange, False)
                if is_clean(doc):  # valid and nothing undeclared: one Rust call
                    exchange.conformance = ConformanceReport(plan.label, plan.mode, resp.status)
                    return _CONTINUE
                return self.slow(exchange, True)
        return self.slow(exchange, False)

    def full(self, exchange: Exchange, unclean: bool) -> Verdict:
        """The response phase in full (:meth:`response_now` decides the common case
        itself); ``unclean``: the clean check has already failed on this body."""
        resp = exchange.response
        route = exchange.route
        plan = self.plan(route) if route is not None else None
        if plan is None or resp is None or exchange.outcome == "denied" or exchange.error_code is not None:
            return _CONTINUE  # a gateway-made refusal is not the API's answer
        report = ConformanceReport(plan.label, plan.mode, resp.status)
        exchange.conformance = report
        unchecked, schema, is_clean = plan.schema_for(resp.status, resp.headers.get(b"content-type"))
        if unchecked == "undeclared_status":
            return _unchecked(report, unchecked)
        if not resp.body:
            return _unchecked(report, "no_body")
        if schema is None:
            return _unchecked(report, unchecked)
        try:
            doc = response_json(exchange)
        except ValueError:
            report.reason = "not_json"
            if plan.fail_open:
                report.outcome = "unchecked"
                log.warning("%s: response declared JSON does not parse; forwarded (on_error: allow, request %s)",
                            plan.label, exchange.request_id)
                return _CONTINUE
            report.outcome = "withheld"
            return Deny(ResponseNonConforming, rule="conformance:not_json")
        if not unclean and is_clean(doc):
            return _CONTINUE  # valid and nothing undeclared: one Rust call, the common case
        if plan.enforce:
            # One walk that finds and removes (after a Rust call that answers "nothing
            # undeclared" when only the schema is broken).
            doc = writable_response_json(exchange)
            removed = schema.strip_undeclared(doc)
            if removed:
                # Templates are computed after removal: the parents of a removed member remain.
                counts = report.removed
                for p in removed:
                    t = path_template(doc, p)
                    counts[t] = counts.get(t, 0) + 1
                set_response_json(exchange, doc)
                report.outcome = "removed"
                exchange.decide(self.name, "remove", "conformance:undeclared:" + str(len(removed)))
        else:
            found = schema.undeclared(doc)
            counts = report.removed
            for p in found:
                t = path_template(doc, p)
                counts[t] = counts.get(t, 0) + 1
            if found:
                report.outcome = "would_remove"
                exchange.decide(self.name, "would_remove", "conformance:undeclared:" + str(len(found)))
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
        return _CONTINUE


def _unchecked(report: ConformanceReport, reason: str) -> Verdict:
    report.outcome = "unchecked"
    report.reason = reason
    return _CONTINUE


# --- request validation ------------------------------------------------------------------


class PathScalar:
    """One plain path parameter of a route's operation (``/customers/{id}``)."""

    def __init__(self, key: str, types: frozenset[str], check: Callable[[Any], bool] | None) -> None:
        self.key = key
        """Its name in ``Exchange.params`` (the router's name: the spec's, same spelling)."""
        self.types = types
        self.integer = "integer" in types
        self.check = check
        """The schema's Rust ``is_valid`` (``SchemaValidator.checker``); None: no schema."""


class ValidationFastPlan:
    """What :class:`ValidationFast` needs of one route (the filter makes it: ``build``)."""

    def __init__(self, source: object, label: str, mode: Literal["enforce", "monitor"],
                 scalars: tuple[PathScalar, ...] | None) -> None:
        self.source = source
        """The route settings object the plan was made from (a new config makes a new plan)."""
        self.label = label
        self.mode: Literal["enforce", "monitor"] = mode
        self.scalars = scalars
        """The path parameters to check; None: the route never takes the fast path (query,
        header or cookie parameters, styled path parameters, renamed path parameters, a
        required body)."""


class ValidationFast:
    """The validation filter's request phase for the common request (module docstring)."""

    def __init__(self, slow: Callable[[Exchange], Verdict],
                 build: Callable[[RouteInfo], ValidationFastPlan | None]) -> None:
        self.slow = slow
        """The filter's full request phase: everything but the common case."""
        self.build = build
        """Makes a route's plan (None: the route is not bound to an operation)."""
        self.plans: dict[int, ValidationFastPlan] = {}

    def request_now(self, exchange: Exchange) -> Verdict:
        route = exchange.route
        if route is None:
            return _CONTINUE
        plan = self.plans.get(id(route))
        if plan is None or plan.source is not route.settings:
            plan = self.build(route)
            if plan is None:
                return _CONTINUE
            if len(self.plans) >= _PLANS_MAX:
                self.plans.clear()
            self.plans[id(route)] = plan
        scalars = plan.scalars
        req = exchange.request
        if scalars is None or req.body or req.query:
            return self.slow(exchange)
        if scalars:
            params = exchange.params
            for sc in scalars:
                text = params.get(sc.key)
                if text is None:
                    return self.slow(exchange)  # a required parameter missing: reported there
                value: Any
                if sc.integer and text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
                    value = int(text)  # coerce_scalar's common case, without its call
                else:
                    value = coerce_scalar(text, sc.types)
                check = sc.check
                if check is not None and not check(value):
                    return self.slow(exchange)  # its violations are built there
        exchange.validation = ValidationReport(plan.label, plan.mode)
        return _CONTINUE
