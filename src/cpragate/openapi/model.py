"""The typed model of a loaded spec: what the gateway, ``init``, the inventory and the
scanner need, with every schema already compiled.

Everything here is immutable and built once by :func:`cpragate.openapi.load_spec`;
per-request work is look-ups and calls into compiled validators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cpragate.errors import SpecSchemaError
from cpragate.openapi.limits import JsonLimits, needed_bounds
from cpragate.openapi.paths import PathMatcher
from cpragate.openapi.properties import PropertyShape, schema_depth
from cpragate.openapi.validator import DEFAULT_MAX_VIOLATIONS, SchemaValidator, Violation

if TYPE_CHECKING:
    from cpragate.openapi.params import ParameterValidator

__all__ = [
    "WRITE_METHODS",
    "CompiledSchema",
    "MediaType",
    "Operation",
    "Parameter",
    "ParameterLocation",
    "RequestBody",
    "Response",
    "SecurityRequirement",
    "SecurityScheme",
    "Server",
    "Spec",
    "match_media_type",
]

ParameterLocation = Literal["path", "query", "header", "cookie"]
SecurityRequirement = Mapping[str, tuple[str, ...]]
"""Scheme name -> required scopes; all schemes of one requirement apply together.
An empty requirement (``{}``) means anonymous access is allowed."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


_ALL_BOUNDS = (True, True, True)


def _resource(schema: Any, urn: str) -> Any:
    """``schema`` as an embedded resource of its own (its ``#/$defs/...`` refs stay its own)."""
    return {**schema, "$id": urn} if isinstance(schema, dict) else schema


def _never(instance: Any) -> bool:
    return False


class CompiledSchema:
    """A bundled JSON Schema with its validator and property walker, compiled once.

    :param schema: a self-contained JSON Schema 2020-12 document.
    :param where: names the schema's place in the spec for load-time errors.
    """

    __slots__ = ("_clean", "_depth", "_shape", "schema", "validator")

    def __init__(self, schema: Any, *, where: str = "schema") -> None:
        self.schema = schema
        """The JSON Schema document (``$defs`` at its root)."""
        self.validator = SchemaValidator(schema, where=where)
        """The compiled validator."""
        self._shape = PropertyShape(schema)
        self._clean: dict[tuple[bool, JsonLimits | None, tuple[bool, bool, bool]], SchemaValidator | None] = {}
        self._depth: tuple[int | None] | None = None

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` is valid (fastest check; no details)."""
        return self.validator.is_valid(instance)

    def is_clean(
        self,
        instance: Any,
        *,
        read_only: bool = False,
        limits: JsonLimits | None = None,
        size: int | None = None,
    ) -> bool:
        """True when ``instance`` is valid, has no undeclared property and, with
        ``read_only=True``, no ``readOnly`` one: one call into Rust for all of it. With
        ``limits``, True also means :func:`~cpragate.openapi.limits.check_limits` would
        find nothing (the bounds are folded into the same schema; ``size``, the length of
        the JSON text, drops those it is too short to break, as in ``check_limits``).

        False means there is something to report, or the schema has parts only the
        property walk can decide (oneOf/anyOf/if/discriminator; with ``limits``: any
        schema that does not bound nesting within ``max_depth``): ask
        :func:`check_limits`, :meth:`validate`, :meth:`undeclared` and :meth:`read_only`
        then. Each variant is compiled on first use.
        """
        needed = _ALL_BOUNDS if limits is None else needed_bounds(limits, size)
        key = (read_only, limits, needed)
        try:
            combined = self._clean[key]
        except KeyError:
            combined = self._combined(read_only) if limits is None else self._bounded(read_only, limits, needed)
            self._clean[key] = combined
        if combined is None:
            return False
        return combined.is_valid(instance)

    def clean_check(self) -> Callable[[Any], bool]:
        """:meth:`is_clean` without options (``read_only=False``, no limits), as one callable
        to keep: the compiled validator's own check, or one that answers False when no single
        validator can decide (as ``is_clean`` does)."""
        key = (False, None, _ALL_BOUNDS)
        try:
            combined = self._clean[key]
        except KeyError:
            combined = self._clean[key] = self._combined(False)
        return combined.checker() if combined is not None else _never

    def clean_depth(self) -> int | None:
        """The deepest nesting a document for which :meth:`is_clean` is True can have
        (top-level container: 1); None when unbounded (recursion, free-form parts) or when
        is_clean does not use a single strict schema."""
        if self._depth is None:
            strict = self._shape.strict_schema(False)
            self._depth = (schema_depth(strict) if strict is not None else None,)
        return self._depth[0]

    def _bounded(
        self, read_only: bool, limits: JsonLimits, needed: tuple[bool, bool, bool]
    ) -> SchemaValidator | None:
        """The strict schema with the parser-abuse bounds on every place of the document."""
        depth = self.clean_depth()
        strict = self._shape.strict_schema(read_only)
        if strict is None or depth is None or depth > limits.max_depth or not isinstance(strict, dict):
            return None
        strings, arrays, keys = needed
        bounds = [("maxLength", limits.max_string_length)] if strings else []
        if arrays:
            bounds.append(("maxItems", limits.max_array_length))
        if keys:
            bounds.append(("maxProperties", limits.max_keys))
        stack: list[Any] = [strict]
        while stack:  # the places strict_schema describes (no composition keywords there)
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            for key, bound in bounds:
                own = node.get(key)
                node[key] = min(own, bound) if isinstance(own, int) and not isinstance(own, bool) else bound
            if strings:
                node["propertyNames"] = {"maxLength": limits.max_string_length}
            for key in ("properties", "patternProperties", "$defs"):
                group = node.get(key)
                if isinstance(group, dict):
                    stack.extend(group.values())
            for key in ("additionalProperties", "items"):
                if key in node:
                    stack.append(node[key])
            if isinstance(node.get("prefixItems"), list):
                stack.extend(node["prefixItems"])
        try:
            return SchemaValidator(strict, where="bounded strict schema")
        except SpecSchemaError:
            return None

    def _combined(self, read_only: bool) -> SchemaValidator | None:
        strict = self._shape.strict_schema(read_only)
        if strict is not None:
            try:
                return SchemaValidator(strict, where="strict schema")  # one traversal
            except SpecSchemaError:
                pass
        if isinstance(self.schema, dict) and "$id" in self.schema:
            return None  # an embedded resource of our own would clash with the schema's base URI
        parts = [_resource(self.schema, "urn:cpragate:schema")]
        modes = ("undeclared", "read_only") if read_only else ("undeclared",)
        for mode in modes:
            closed = self._shape.closed_schema(mode)
            if closed is None:
                return None
            parts.append(_resource(closed, f"urn:cpragate:{mode}"))
        try:
            return SchemaValidator({"allOf": parts}, where="combined schema")
        except SpecSchemaError:
            return None  # each part compiled on its own; the separate checks stay exact

    def validate(self, instance: Any, *, limit: int = DEFAULT_MAX_VIOLATIONS) -> list[Violation]:
        """Every violation (pointer, rule), at most ``limit``; never the values."""
        return self.validator.validate(instance, limit=limit)

    def undeclared(self, instance: Any) -> list[str]:
        """JSON pointers of properties the schema does not declare."""
        return self._shape.undeclared(instance)

    def read_only(self, instance: Any) -> list[str]:
        """JSON pointers of ``readOnly`` properties present in ``instance``."""
        return self._shape.read_only(instance)

    def strip_undeclared(self, instance: Any) -> list[str]:
        """Remove undeclared properties in place; their JSON pointers."""
        return self._shape.strip_undeclared(instance)


@dataclass(frozen=True, slots=True)
class Server:
    """A server URL of the spec (variables not substituted)."""

    url: str
    description: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """A ``components.securitySchemes`` entry."""

    name: str
    """The key under ``securitySchemes``, used by security requirements."""
    type: str
    """``apiKey``, ``http``, ``mutualTLS``, ``oauth2`` or ``openIdConnect``."""
    scheme: str | None = None
    """For ``http``: ``basic``, ``bearer``..."""
    bearer_format: str | None = None
    location: str | None = None
    """For ``apiKey``: ``header``, ``query`` or ``cookie``."""
    parameter_name: str | None = None
    """For ``apiKey``: the header, query or cookie name."""
    flows: Mapping[str, Any] = field(default_factory=dict)
    """For ``oauth2``: flow name -> flow object (``scopes``, URLs)."""
    open_id_connect_url: str | None = None
    description: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter of an operation (path-level ones merged in)."""

    name: str
    location: ParameterLocation
    required: bool
    schema: CompiledSchema | None
    """Compiled for requests; None for a parameter without schema (anything goes)."""
    style: str
    explode: bool
    deprecated: bool = False
    allow_empty_value: bool = False
    content_type: str | None = None
    """Set for parameters described by ``content`` (the value is parsed as that type)."""
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MediaType:
    """One entry of a ``content`` map."""

    media_type: str
    """Lower-case ``type/subtype`` as written in the spec (parameters removed)."""
    schema: CompiledSchema | None
    """Compiled for the direction of its body; None when the spec gives no schema."""


def _bare(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def match_media_type(content: Mapping[str, MediaType], content_type: str | None) -> MediaType | None:
    """The entry of ``content`` for a ``Content-Type`` header value.

    Exact ``type/subtype`` first (parameters like ``charset`` ignored), then the spec's
    ``type/*``, then ``*/*``. None when nothing matches (a 415) or the header is absent.
    """
    if not content_type:
        return None
    bare = _bare(content_type)
    found = content.get(bare)
    if found is not None:
        return found
    main = bare.split("/", 1)[0]
    return content.get(main + "/*") or content.get("*/*")


@dataclass(frozen=True, slots=True)
class RequestBody:
    """An operation's request body."""

    required: bool
    content: Mapping[str, MediaType]

    def media_type(self, content_type: str | None) -> MediaType | None:
        """See :func:`match_media_type`."""
        return match_media_type(self.content, content_type)


@dataclass(frozen=True, slots=True)
class Response:
    """One response of an operation, keyed by status (``"200"``, ``"4XX"``, ``"default"``)."""

    status: str
    description: str | None
    content: Mapping[str, MediaType]
    headers: Mapping[str, Parameter] = field(default_factory=dict)

    def media_type(self, content_type: str | None) -> MediaType | None:
        """See :func:`match_media_type`."""
        return match_media_type(self.content, content_type)


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path template."""

    method: str
    """Upper-case HTTP method."""
    path: str
    """The path template as written: ``/v1/customers/{id}``."""
    operation_id: str | None
    summary: str | None
    tags: tuple[str, ...]
    deprecated: bool
    security: tuple[SecurityRequirement, ...]
    """Effective requirements (the operation's, else the spec's); any one suffices.
    Empty: no authentication declared."""
    parameters: tuple[Parameter, ...]
    request_body: RequestBody | None
    responses: Mapping[str, Response]
    servers: tuple[Server, ...]
    extensions: Mapping[str, Any]
    """``x-`` keys of the operation (path-item ``x-`` keys are not inherited)."""
    params: ParameterValidator
    """Compiled validation of the path, query, header and cookie parameters."""
    location: str
    """Where the operation is written (``file:line (at #/paths/...)``), for messages."""

    @property
    def is_write(self) -> bool:
        """Whether the method writes (POST, PUT, PATCH): mass assignment applies."""
        return self.method in WRITE_METHODS

    def response_for(self, status: int) -> Response | None:
        """The response declared for ``status``: exact code, then ``4XX`` range, then ``default``."""
        found = self.responses.get(str(status))
        if found is None:
            found = self.responses.get(f"{status // 100}XX")
        if found is None:
            found = self.responses.get("default")
        return found


@dataclass(frozen=True, slots=True)
class Spec:
    """A loaded, validated and compiled OpenAPI document."""

    path: Path
    """The root file."""
    openapi: str
    """The ``openapi`` version string (``3.0.3``, ``3.1.0``...)."""
    title: str
    version: str
    servers: tuple[Server, ...]
    operations: tuple[Operation, ...]
    """Every operation, in document order."""
    security_schemes: Mapping[str, SecurityScheme]
    security: tuple[SecurityRequirement, ...]
    """The document-level security requirements."""
    extensions: Mapping[str, Any]
    files: tuple[Path, ...]
    """Every file the spec was read from, the root first (for reload watching)."""
    matcher: PathMatcher = field(repr=False)
    _by_route: Mapping[tuple[str, str], Operation] = field(repr=False)
    _by_id: Mapping[str, Operation] = field(repr=False)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path template, in document order, without duplicates."""
        return tuple(dict.fromkeys(op.path for op in self.operations))

    def operation(self, operation_id: str) -> Operation | None:
        """The operation with ``operation_id``, or None."""
        return self._by_id.get(operation_id)

    def route(self, method: str, template: str) -> Operation | None:
        """The operation for ``method`` on the path ``template``, or None."""
        return self._by_route.get((method.upper(), template))

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation a concrete request path belongs to, with its path parameters.

        ``path`` is the path without query string, relative to the server base path.
        Returns None when no template matches or the template lacks ``method``.
        """
        found = self.matcher.match(path)
        if found is None:
            return None
        template, values = found
        op = self._by_route.get((method.upper(), template))
        return (op, values) if op is not None else None
