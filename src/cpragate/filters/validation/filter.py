"""Validates requests against their OpenAPI operation and blocks mass assignment.

Theory of operation (one request on a route bound to an operation, ``routes[].openapi``):

1. Parameters: path (from the router), query, header and cookie values are parsed by
   their style, coerced and validated by the operation's compiled validators. Pointers:
   ``/path/id``, ``/query/limit``, ``/header/x-trace-id``, ``/cookie/session``.
2. Body: a body on an operation without ``requestBody``, or a Content-Type the
   operation does not list, is a 415. A missing required body is a 400. A JSON body is
   parsed once (``core.jsonbody``, shared with later readers), checked against the
   parser-abuse limits (depth, array length, string length, key count: 400) and
   validated by the media type's compiled schema (422). Pointers start with ``/body``.
3. Mass assignment (POST, PUT, PATCH): ``readOnly`` properties, properties the schema
   does not declare and privileged properties (``routes[].validation.privileged``) the
   caller's scopes do not allow are refused (422, CPG-VAL-004) or, with
   ``mass_assignment: strip``, removed before the body is forwarded.
4. ``enforce`` answers a problem listing each violation by JSON pointer and rule, never
   a submitted value. ``monitor`` forwards the request untouched and records exactly
   what would have been refused or stripped. Either way ``exchange.validation`` holds
   the report and ``exchange.decisions`` a line naming the outcome.

The caller's scopes come from ``exchange.identity`` (set by authn); without an identity
the caller has none. Only the shape of the identity is assumed (``scopes``/``roles``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qs

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import request_json, set_request_json, writable_request_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import (
    GatewayError,
    MassAssignment,
    MediaTypeNotAccepted,
    RequestBodyInvalid,
    RequestInvalid,
    RequestTooComplex,
)
from cpragate.filters.validation.config import (
    OpenApiBinding,
    PrivilegedProperty,
    ValidationConfig,
    ValidationRouteSettings,
)
from cpragate.filters.validation.report import ValidationReport
from cpragate.openapi import pointer as jp
from cpragate.openapi.limits import JsonLimits, check_limits
from cpragate.openapi.model import CompiledSchema, MediaType, Operation
from cpragate.openapi.validator import Violation

if TYPE_CHECKING:
    from cpragate.filters.validation.fastpath import ValidationFastPlan

__all__ = ["ValidationFilter", "binding_of", "caller_scopes", "is_json_media", "operation_label"]

log = logging.getLogger("cpragate.filter.validation")


def binding_of(route: RouteInfo | None) -> OpenApiBinding | None:
    """The route's OpenAPI binding (``settings.openapi``) once resolved, else None."""
    settings = route.settings if route is not None else None
    b = getattr(settings, "openapi", None)
    return b if isinstance(b, OpenApiBinding) and b.resolved is not None else None


def operation_label(op: Operation) -> str:
    return op.operation_id or f"{op.method} {op.path}"


def is_json_media(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def caller_scopes(identity: object | None) -> frozenset[str]:
    """The caller's scopes and roles, read defensively (None: anonymous, no scopes)."""
    if identity is None:
        return frozenset()
    found: set[str] = set()
    for attr in ("scopes", "roles"):
        v = getattr(identity, attr, None)
        if isinstance(v, str):
            found.update(v.split())
        elif isinstance(v, frozenset | set | list | tuple):
            found.update(x for x in v if isinstance(x, str))
    return frozenset(found)


def _route_settings(route: RouteInfo | None) -> ValidationRouteSettings | None:
    settings = route.settings if route is not None else None
    s = getattr(settings, "validation", None)
    return s if isinstance(s, ValidationRouteSettings) else None


class _Plan:
    """What one route needs, derived once from the global and route settings."""

    __slots__ = (
        "binding",
        "cookies",
        "depth_bytes",
        "enforce",
        "headers",
        "label",
        "limit_bytes",
        "limits",
        "mass",
        "max_violations",
        "media",
        "mode",
        "op",
        "params",
        "path_names",
        "privileged",
        "query",
        "query_names",
        "source",
        "strict_query",
        "write",
    )

    def __init__(self, cfg: ValidationConfig, binding: OpenApiBinding, rs: ValidationRouteSettings | None) -> None:
        op = binding.resolved
        assert op is not None
        self.binding = binding
        self.source: object = None
        self.op = op
        self.label = operation_label(op)
        mode = (rs.mode if rs else None) or cfg.mode
        self.enforce = mode == "enforce"
        self.mass = (rs.mass_assignment if rs else None) or cfg.mass_assignment
        self.write = op.is_write and self.mass != "off"
        """Whether mass assignment is checked (a write method, not turned off)."""
        self.mode: Literal["enforce", "monitor"] = "enforce" if self.enforce else "monitor"
        self.strict_query = ((rs.unknown_query if rs else None) or cfg.unknown_query) == "deny"
        limits = (rs.limits if rs else None) or cfg.limits
        self.limits: JsonLimits = limits.to_limits()
        lim = self.limits
        # See _body: bodies shorter than these cannot break a limit (depth: any limit).
        self.limit_bytes = min(lim.max_string_length + 1, 2 * lim.max_array_length, 4 * lim.max_keys)
        self.depth_bytes = 2 * lim.max_depth
        self.media: dict[bytes | None, tuple[MediaType | None, CompiledSchema | None]] = {}
        self.max_violations = cfg.max_violations
        self.privileged: tuple[PrivilegedProperty, ...] = tuple(rs.privileged) if rs else ()
        locations = {p.location for p in op.parameters}
        self.params = bool(op.parameters)
        self.query = "query" in locations or self.strict_query
        self.headers = "header" in locations
        self.cookies = "cookie" in locations
        self.query_names = frozenset(p.name for p in op.parameters if p.location == "query")
        self.path_names = binding.path_names  # read once: a pydantic private attribute costs ~2 µs


def _present(doc: Any, tokens: tuple[str, ...], at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Where the property ``tokens`` occurs in ``doc`` (arrays on the way are looked into)."""
    if isinstance(doc, list):
        out: list[tuple[str | int, ...]] = []
        for i, item in enumerate(doc):
            out += _present(item, tokens, (*at, i))
        return out
    if not tokens or not isinstance(doc, dict) or tokens[0] not in doc:
        return []
    if len(tokens) == 1:
        return [(*at, tokens[0])]
    return _present(doc[tokens[0]], tokens[1:], (*at, tokens[0]))


def _remove(doc: Any, pointer: str) -> bool:
    """Delete the member at ``pointer`` (relative to the body); False when it is gone already."""
    tokens = jp.parse(pointer)
    if not tokens:
        return False
    node = doc
    for t in tokens[:-1]:
        if isinstance(node, dict):
            node = node.get(t)
        elif isinstance(node, list) and t.isdigit() and int(t) < len(node):
            node = node[int(t)]
        else:
            return False
    last = tokens[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def _shallow(schema: CompiledSchema, max_depth: int) -> bool:
    """Whether every body :meth:`CompiledSchema.is_clean` accepts is within ``max_depth``."""
    depth = schema.clean_depth()
    return depth is not None and depth <= max_depth


_MEDIA_CACHE = 32
"""Most Content-Type resolutions remembered per route; cleared when full."""


def _request_media(plan: _Plan, content_type: bytes | None) -> tuple[MediaType | None, CompiledSchema | None]:
    """The request body's media type for a Content-Type, and its schema when it is JSON."""
    found = plan.media.get(content_type)
    if found is None:
        rb = plan.op.request_body
        assert rb is not None
        media = rb.media_type(content_type.decode("latin-1") if content_type is not None else None)
        json = media is not None and is_json_media(media.media_type.split(";", 1)[0])
        found = (media, media.schema if json and media is not None else None)
        if len(plan.media) >= _MEDIA_CACHE:
            plan.media.clear()
        plan.media[content_type] = found
    return found


class ValidationFilter(Filter):
    name = "validation"
    priority = 850
    Config: ClassVar[type[FilterConfig]] = ValidationConfig
    needs_request_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, ValidationConfig)
        self.cfg = config
        self._plans: dict[int, _Plan] = {}
        from cpragate.filters.validation.fastpath import ValidationFast  # it imports this module

        self._fast = ValidationFast(self._request, self._fast_plan)
        # The pipeline calls the compiled method directly (fastpath.py): no Python frame for
        # the common request; the rest comes back to _request.
        self.request_now = self._fast.request_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        rs = _route_settings(route)
        return binding_of(route) is not None and (rs is None or rs.enabled is not False)

    def _plan(self, route: RouteInfo) -> _Plan | None:
        plan = self._plans.get(id(route))
        if plan is not None and plan.source is route.settings:
            return plan  # the hot path: no pydantic attribute access per request
        binding = binding_of(route)
        if binding is None:
            return None
        plan = self._plans[id(route)] = _Plan(self.cfg, binding, _route_settings(route))
        plan.source = route.settings
        return plan

    def _fast_plan(self, route: RouteInfo) -> ValidationFastPlan | None:
        """The compiled fast path's view of a route (fastpath.ValidationFast)."""
        from cpragate.filters.validation.fastpath import PathScalar, ValidationFastPlan

        plan = self._plan(route)
        if plan is None:
            return None
        scalars: tuple[PathScalar, ...] | None = None
        rb = plan.op.request_body
        if not (plan.query or plan.headers or plan.cookies or (rb is not None and rb.required)):
            found = plan.op.params.path_scalars() if plan.params else ()
            renamed = {spec: route_name for route_name, spec in plan.path_names}
            # a route name that is another parameter's spec name (a swap): _parameters renames
            # one at a time, so its order decides; the full phase handles such a route
            if found is not None and set(renamed.values()).isdisjoint(renamed):
                scalars = tuple(
                    PathScalar(renamed.get(key, key), types, schema.validator.checker() if schema is not None else None)
                    for key, types, schema in found
                )
        return ValidationFastPlan(route.settings, plan.label, plan.mode, scalars)

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self.request_now(exchange)

    def request_now(self, exchange: Exchange) -> Verdict:
        """The whole request phase: it never awaits, so the data plane needs no coroutine
        (bound to fastpath.ValidationFast in __init__, which hands all but the common
        request to :meth:`_request`)."""
        return self._fast.request_now(exchange)

    def _request(self, exchange: Exchange) -> Verdict:
        """The request phase in full."""
        plan = self._plan(exchange.route) if exchange.route is not None else None
        if plan is None:
            return CONTINUE
        violations: list[Violation] = []
        error: type[GatewayError] | None = None
        if plan.params:
            violations += self._parameters(plan, exchange)
            if violations:
                error = RequestInvalid
        body_error, body_violations, mass, stripped = self._body(plan, exchange)
        violations += body_violations
        if body_error is not None and (error is None or body_error in (MediaTypeNotAccepted, RequestTooComplex)):
            error = body_error
        if error is None and mass:
            error = MassAssignment
        violations += mass
        report = ValidationReport(plan.label, plan.mode)
        report.violations = tuple(violations)
        exchange.validation = report
        if error is not None:
            report.code = error.code
            rule = f"validation:{violations[0].rule}" if violations else "validation"
            if plan.enforce:
                report.outcome = "refused"
                shown = tuple(violations[: plan.max_violations])
                return Deny(error, rule=rule, violations=shown)
            report.outcome = "would_refuse"
            exchange.decide(self.name, "would_deny", rule)
            log.info("monitor: %s would be refused (%s, %d violation(s), request %s)",
                     plan.label, error.code, len(violations), exchange.request_id)
            return CONTINUE
        if stripped:
            report.stripped = tuple(stripped)
            if plan.enforce:
                report.outcome = "stripped"
                exchange.decide(self.name, "strip", f"validation:mass_assignment:{len(stripped)}")
            else:
                report.outcome = "would_strip"
                exchange.decide(self.name, "would_strip", f"validation:mass_assignment:{len(stripped)}")
        return CONTINUE

    # ------------------------------------------------------------------ parameters

    def _parameters(self, plan: _Plan, ex: Exchange) -> list[Violation]:
        req = ex.request
        query: dict[str, list[str]] | None = None
        if plan.query and req.query:
            query = parse_qs(req.query.decode("latin-1"), keep_blank_values=True)
        headers: dict[str, str] | None = None
        if plan.headers:
            headers = {}
            for raw_name, raw_value in req.headers:
                name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        cookies: dict[str, str] | None = None
        if plan.cookies:
            cookies = {}
            for raw in req.headers.get_all(b"cookie"):
                for part in raw.decode("latin-1").split(";"):
                    k, sep, v = part.strip().partition("=")
                    if sep and k not in cookies:
                        cookies[k] = v
        path = ex.params
        if plan.path_names:
            path = dict(path)
            for route_name, spec_name in plan.path_names:
                if route_name in path:
                    path[spec_name] = path.pop(route_name)
        result = plan.op.params.validate(path=path, query=query, headers=headers, cookies=cookies)
        found = list(result.violations)
        if plan.strict_query and query:
            for name in query:
                base = name.split("[", 1)[0]
                if name not in plan.query_names and base not in plan.query_names:
                    found.append(Violation(jp.join("/query", name), "undeclared"))
        return found

    # ------------------------------------------------------------------ body

    def _body(
        self, plan: _Plan, ex: Exchange
    ) -> tuple[type[GatewayError] | None, list[Violation], list[Violation], list[str]]:
        """(error, schema violations, mass-assignment violations, stripped pointers)."""
        req = ex.request
        body = req.body
        rb = plan.op.request_body
        if not body:
            if rb is not None and rb.required:
                return RequestInvalid, [Violation("/body", "required")], [], []
            return None, [], [], []
        if rb is None:
            return MediaTypeNotAccepted, [Violation("/body", "requestBody")], [], []
        media, schema = _request_media(plan, req.headers.get(b"content-type"))
        if media is None:
            return MediaTypeNotAccepted, [Violation("/header/content-type", "requestBody")], [], []
        if schema is None:
            return None, [], [], []  # only JSON bodies are validated (documented)
        try:
            doc = request_json(ex)
        except ValueError:
            return RequestInvalid, [Violation("/body", "json")], [], []
        # Parser-abuse limits, before any Python walk. A string or key is no longer than
        # the body, n array elements take 2n - 1 bytes, n keys 4n: a body shorter than
        # limit_bytes can only nest too deep, and that needs more than max_depth brackets.
        # The common case, a valid body with nothing undeclared or readOnly, is one Rust
        # call (safe at any depth and size); for a large body the limits are folded into
        # it when the schema bounds nesting. A body it accepts is as deep as the schema
        # allows at most.
        n = len(body)
        write = plan.write
        limits_done = n <= plan.depth_bytes
        if n >= plan.limit_bytes:
            clean = schema.is_clean(doc, read_only=write, limits=plan.limits, size=n)
            if not clean:
                too = check_limits(doc, plan.limits, size=n)
                if too is not None:
                    return RequestTooComplex, [Violation("/body" + too.pointer, too.rule)], [], []
                clean = schema.is_clean(doc, read_only=write)
            limits_done = True
        else:
            clean = schema.is_clean(doc, read_only=write)
        mass: list[Violation] = []
        undeclared: set[str] = set()
        if not limits_done and not (clean and _shallow(schema, plan.limits.max_depth)):
            if body.count(b"{") + body.count(b"[") > plan.limits.max_depth:
                too = check_limits(doc, plan.limits, size=n)
                if too is not None:
                    return RequestTooComplex, [Violation("/body" + too.pointer, too.rule)], [], []
        if clean:
            if write and plan.privileged:
                mass = self._privileged(plan, ex, doc, undeclared)
                if mass:
                    return self._mass(plan, ex, schema, doc, mass, undeclared)
            return None, [], [], []
        if write:
            for p in schema.read_only(doc):
                mass.append(Violation("/body" + p, "readOnly"))
            for p in schema.undeclared(doc):
                undeclared.add(p)
                mass.append(Violation("/body" + p, "undeclared"))
            if plan.privileged:
                mass += self._privileged(plan, ex, doc, undeclared)
        return self._mass(plan, ex, schema, doc, mass, undeclared)

    @staticmethod
    def _privileged(plan: _Plan, ex: Exchange, doc: Any, undeclared: set[str]) -> list[Violation]:
        """Privileged properties present that the caller's scopes do not allow."""
        found: list[Violation] = []
        allowed = caller_scopes(ex.identity)
        for prop in plan.privileged:
            if prop.scopes and not allowed.isdisjoint(prop.scopes):
                continue
            for at in _present(doc, prop.tokens()):
                p = jp.from_tokens(at)
                if p not in undeclared:
                    found.append(Violation("/body" + p, "privileged"))
        return found

    @staticmethod
    def _mass(
        plan: _Plan, ex: Exchange, schema: CompiledSchema, doc: Any, mass: list[Violation], undeclared: set[str]
    ) -> tuple[type[GatewayError] | None, list[Violation], list[Violation], list[str]]:
        """Strip (per config) what mass assignment found, then validate what remains."""
        stripped: list[str] = []
        if mass and plan.mass == "strip":
            pointers = sorted({v.pointer[len("/body"):] for v in mass}, key=lambda p: (-p.count("/"), p))
            if plan.enforce:
                doc = writable_request_json(ex)
                for p in pointers:
                    if _remove(doc, p):
                        stripped.append("/body" + p)
                set_request_json(ex, doc)
            else:
                stripped = ["/body" + p for p in pointers]
            mass = []
        found = schema.validate(doc, limit=plan.max_violations + len(undeclared))
        schema_violations = [
            Violation("/body" + v.pointer, v.rule)
            for v in found
            if not (v.rule == "additionalProperties" and v.pointer in undeclared)
        ]
        return (RequestBodyInvalid if schema_violations else None), schema_violations, mass, stripped
