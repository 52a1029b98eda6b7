"""Config of the validation and conformance filters, and a route's link to its OpenAPI operation.

Global settings live under ``filters.validation`` / ``filters.conformance``; each route
may override them (``routes[].validation``, ``routes[].conformance``) and is bound to its
operation by ``routes[].openapi`` (written for you by ``from_openapi`` route entries). The
config loader resolves the binding once at load time; the filters only read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, PrivateAttr

from cpragate.core.filter import FilterConfig
from cpragate.openapi.limits import JsonLimits

if TYPE_CHECKING:
    from cpragate.openapi.model import Operation

__all__ = [
    "ConformanceConfig",
    "ConformanceRouteSettings",
    "JsonLimitsConfig",
    "Mode",
    "OpenApiBinding",
    "PrivilegedProperty",
    "ValidationConfig",
    "ValidationRouteSettings",
]

Mode = Literal["enforce", "monitor"]
MassAssignment = Literal["reject", "strip", "off"]

_MODE = (
    "`enforce` refuses (or strips) what breaks the spec; `monitor` lets it through and records "
    "exactly what would have been refused or removed (Exchange annotations, decisions, log)."
)


class OpenApiBinding(FilterConfig):
    """The OpenAPI operation a route is described by."""

    spec: str = Field(..., description="The OpenAPI 3.0/3.1 file (YAML or JSON), relative to the config file's folder.")
    operation: str = Field(
        ...,
        description="The operation: its operationId, or `METHOD /path` as written in the spec (`GET /pets/{id}`).",
    )
    _operation: Operation | None = PrivateAttr(None)
    _path_names: tuple[tuple[str, str], ...] = PrivateAttr(())

    @property
    def resolved(self) -> Operation | None:
        """The compiled operation (set by the config loader), or None before binding."""
        return self._operation

    @property
    def path_names(self) -> tuple[tuple[str, str], ...]:
        """(route parameter name, spec parameter name) pairs where they differ."""
        return self._path_names

    def bind(self, operation: Operation, path_names: tuple[tuple[str, str], ...] = ()) -> None:
        """Attach the compiled operation (config loading only)."""
        self._operation = operation
        self._path_names = path_names


class JsonLimitsConfig(FilterConfig):
    """Parser-abuse limits on a JSON request body, checked before any schema runs."""

    max_depth: int = Field(32, ge=1, le=1000, description="Deepest nesting of arrays/objects (the top level is 1).")
    max_array_length: int = Field(10_000, ge=1, description="Most elements in one array.")
    max_string_length: int = Field(100_000, ge=1, description="Longest string value or object key, in characters.")
    max_keys: int = Field(1_000, ge=1, description="Most keys in one object.")

    def to_limits(self) -> JsonLimits:
        return JsonLimits(self.max_depth, self.max_array_length, self.max_string_length, self.max_keys)


class PrivilegedProperty(FilterConfig):
    """A request-body property only some callers may set (mass assignment)."""

    property: str = Field(
        ...,
        min_length=1,
        description="The property: a name (`role`), a dotted path (`owner.id`) or a JSON pointer (`/owner/id`); "
        "arrays on the way are looked into.",
    )
    scopes: list[str] = Field(
        default_factory=list,
        description="Scopes or roles of the caller (any one suffices) that may set it; [] = nobody may.",
    )

    def tokens(self) -> tuple[str, ...]:
        """The member names of ``property``."""
        p = self.property
        if p.startswith("/"):
            from cpragate.openapi.pointer import parse

            return tuple(parse(p))
        return tuple(t for t in p.removeprefix("$.").split(".") if t)


class ValidationConfig(FilterConfig):
    """Request validation against the route's OpenAPI operation (routes with `openapi:` only)."""

    enabled: bool = Field(
        True, description="Run request validation. Only routes bound to an OpenAPI operation are validated."
    )
    mode: Mode = Field("enforce", description=_MODE)
    mass_assignment: MassAssignment = Field(
        "reject",
        description="On POST/PUT/PATCH, body properties the schema marks `readOnly` or does not declare, and "
        "privileged properties the caller may not set: `reject` (422), `strip` them before forwarding, or `off`.",
    )
    unknown_query: Literal["allow", "deny"] = Field(
        "allow", description="Query parameters the operation does not declare: `allow`, or `deny` (400)."
    )
    limits: JsonLimitsConfig = Field(default_factory=JsonLimitsConfig, description="Parser-abuse limits on JSON bodies.")
    max_violations: int = Field(20, ge=1, le=200, description="Most violations listed in one problem response.")


class ValidationRouteSettings(FilterConfig):
    """One route's validation settings; a field left null follows `filters.validation`."""

    enabled: bool | None = Field(None, description="Validate this route (true/false); null follows the filter.")
    mode: Mode | None = Field(None, description="enforce | monitor for this route; null follows the filter.")
    mass_assignment: MassAssignment | None = Field(None, description="reject | strip | off; null follows the filter.")
    unknown_query: Literal["allow", "deny"] | None = Field(None, description="allow | deny; null follows the filter.")
    privileged: list[PrivilegedProperty] = Field(
        default_factory=list,
        description="Body properties only callers with given scopes may set (`role`, `is_admin`, `balance`, "
        "`owner_id`), declared in the spec or not.",
    )
    limits: JsonLimitsConfig | None = Field(None, description="Parser-abuse limits for this route; null follows the filter.")


class ConformanceConfig(FilterConfig):
    """Response conformance: properties the spec does not declare are removed (excessive data exposure)."""

    enabled: bool = Field(
        True, description="Check responses of routes bound to an OpenAPI operation against its response schema."
    )
    mode: Mode = Field(
        "enforce",
        description="`enforce` removes undeclared properties; `monitor` forwards them and records what would "
        "have been removed.",
    )
    on_violation: Literal["log", "block"] = Field(
        "log",
        description="A response that breaks its schema in other ways (types, required, enums): `log` records "
        "and logs the violations (pointers and rules, never values) and forwards it; `block` answers 502.",
    )
    on_error: Literal["deny", "allow"] = Field(
        "deny",
        description="A response the spec declares JSON that does not parse: `deny` answers 502 (CPG-VAL-006), "
        "`allow` forwards it unchecked and logs a warning each time.",
    )


class ConformanceRouteSettings(FilterConfig):
    """One route's conformance settings; a field left null follows `filters.conformance`."""

    enabled: bool | None = Field(None, description="Check this route's responses; null follows the filter.")
    mode: Mode | None = Field(None, description="enforce | monitor; null follows the filter.")
    on_violation: Literal["log", "block"] | None = Field(None, description="log | block; null follows the filter.")
    on_error: Literal["deny", "allow"] | None = Field(None, description="deny | allow; null follows the filter.")
