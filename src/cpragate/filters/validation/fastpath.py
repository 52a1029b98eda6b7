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
schema violations, a body that does not parse) goes to the filter's own Python
(``ConformanceFilter._respond``), which builds every report, decision and Deny in one
place. Nothing is changed before that hand-over except the parse cache
(``core.jsonbody``), which the filter then reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal

from cpragate.core.exchange import Exchange
from cpragate.core.jsonbody import response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.filters.validation.config import ConformanceConfig, ConformanceRouteSettings, OpenApiBinding
from cpragate.filters.validation.filter import binding_of, is_json_media, operation_label
from cpragate.filters.validation.report import ConformanceReport, ValidationReport
from cpragate.openapi.model import CompiledSchema, Operation
from cpragate.openapi.params import coerce_scalar

__all__ = ["ConformanceFast", "ConformancePlan", "PathScalar", "ValidationFast", "ValidationFastPlan", "conformance_settings"]

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

    def __init__(self, cfg: ConformanceConfig, slow: Callable[[Exchange, bool], Verdict]) -> None:
        self.cfg = cfg
        self.slow = slow
        """The filter's full response phase, for everything but the common case (its flag:
        the clean check already failed on this body, so it is not asked twice)."""
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
