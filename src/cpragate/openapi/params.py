"""Path, query, header and cookie parameters: from strings to typed values, validated.

Parameters arrive as strings. Each is split by its ``style``/``explode`` (form,
simple, label, matrix, spaceDelimited, pipeDelimited, deepObject), each piece is
coerced by the schema's types (``"42"`` -> ``42`` where an integer is allowed,
``"true"`` -> ``True`` where a boolean is), and the result is validated by the
parameter's compiled schema. A piece that cannot be coerced stays a string, so the
schema reports it as a ``type`` violation: one path for every error.

Violations point at ``/{location}/{name}`` (and below it for array items or object
properties): ``/query/limit``, ``/query/tags/1``, ``/path/id``, ``/header/x-trace-id``.
Extra rules beyond JSON Schema: ``required`` (missing), ``multiple`` (a non-array
query parameter sent twice: parameter pollution), ``style`` (a value that does not
fit its style), ``content`` (a ``content``-typed parameter that does not parse),
``undeclared`` (an unknown query parameter, only with ``allow_unknown_query=False``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from cpragate.openapi import pointer as jp
from cpragate.openapi.model import CompiledSchema, Parameter
from cpragate.openapi.schema import resolve_local
from cpragate.openapi.validator import Violation

__all__ = ["ParameterResult", "ParameterValidator", "coerce_scalar", "schema_types"]

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ALL_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
# RFC 7230 and OpenAPI: these headers are described elsewhere in the spec, not as parameters.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


def schema_types(schema: Any, root: Any, depth: int = 0) -> frozenset[str]:
    """The JSON types ``schema`` may accept (following ``$ref`` and composition)."""
    if depth > 16 or schema is True:
        return _ALL_TYPES
    if not isinstance(schema, dict):
        return frozenset()
    schema = resolve_local(schema, root)
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(kind)
    found: set[str] = set()
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, ()):
            found |= schema_types(part, root, depth + 1)
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        for value in values:
            found.add(
                "boolean"
                if isinstance(value, bool)
                else "integer"
                if isinstance(value, int)
                else "number"
                if isinstance(value, float)
                else "string"
            )
    return frozenset(found) if found else _ALL_TYPES


def coerce_scalar(text: str, types: frozenset[str]) -> Any:
    """``text`` as the first type in ``types`` it parses as; the string itself otherwise."""
    if "integer" in types:
        if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
            return int(text)  # the common case without the regex
        if _INT.fullmatch(text):
            return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        if _INT.fullmatch(text):
            return int(text)
        value = float(text)
        return value if value not in (float("inf"), float("-inf")) else text
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "null" in types and text in ("", "null") and "string" not in types:
        return None
    return text


@dataclass(slots=True)
class ParameterResult:
    """The typed parameter values and every violation found."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    """location -> name -> typed value (only parameters that were present)."""
    violations: list[Violation] = field(default_factory=list)


class _Compiled:
    """One parameter with what its parsing needs, derived once."""

    __slots__ = ("item_types", "key", "param", "prop_types", "scalar", "types", "where")

    def __init__(self, param: Parameter) -> None:
        self.param = param
        self.key = param.name.lower() if param.location == "header" else param.name
        self.where = jp.join("", param.location, param.name)
        root = param.schema.schema if param.schema is not None else True
        self.types = schema_types(root, root)
        body = resolve_local(root, root) if isinstance(root, dict) else {}
        items = body.get("items", True) if isinstance(body, dict) else True
        self.item_types = schema_types(items, root)
        props = body.get("properties", {}) if isinstance(body, dict) else {}
        self.prop_types = {name: schema_types(sub, root) for name, sub in props.items()}
        self.scalar = (
            param.location != "query"
            and param.content_type is None
            and param.style in ("simple", "form")
            and "array" not in self.types
            and not ("object" in self.types and self.prop_types)
        )
        """The common case (``/pets/{id}``): the value is the whole string, coerced by type."""


class ParameterValidator:
    """Validates the parameters of one operation; built once at load time.

    :param parameters: the operation's parameters (path-level ones already merged).
    :param allow_unknown_query: when False, query parameters the operation does not
        declare are violations (``undeclared``).
    """

    __slots__ = ("_by_location", "_known_query", "_path_scalars", "allow_unknown_query")

    def __init__(self, parameters: Sequence[Parameter], *, allow_unknown_query: bool = True) -> None:
        self.allow_unknown_query = allow_unknown_query
        self._by_location: dict[str, list[_Compiled]] = {}
        for param in parameters:
            if param.location == "header" and param.name.lower() in _IGNORED_HEADERS:
                continue
            self._by_location.setdefault(param.location, []).append(_Compiled(param))
        self._known_query = frozenset(p.param.name for p in self._by_location.get("query", []))
        only_path = list(self._by_location) == ["path"] and all(c.scalar for c in self._by_location["path"])
        self._path_scalars = tuple(self._by_location["path"]) if only_path else None
        """Set when every parameter is a plain path scalar (``/pets/{id}``): the fast path."""

    def path_scalars(self) -> tuple[tuple[str, frozenset[str], CompiledSchema | None], ...] | None:
        """``(name, types, schema)`` of each parameter when every one is a plain path scalar
        (the fast path of :meth:`validate`), else None. A caller that checks these itself
        (coerce with :func:`coerce_scalar`, then the schema) finds what :meth:`validate`
        finds for a request without query parameters."""
        if self._path_scalars is None:
            return None
        return tuple((c.key, c.types, c.param.schema) for c in self._path_scalars)

    def validate(
        self,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> ParameterResult:
        """Parse, coerce and validate every declared parameter.

        :param path: path parameters from the router (already percent-decoded).
        :param query: every value of every query key (``parse_qs(..., keep_blank_values=True)``).
        :param headers: header values; keys in any case.
        :param cookies: cookie values.
        """
        result = ParameterResult()
        if self._path_scalars is not None and not query and self.allow_unknown_query:
            path = path or {}
            values: dict[str, Any] = {}
            for item in self._path_scalars:
                text = path.get(item.key)
                if text is None:
                    if item.param.required:
                        result.violations.append(Violation(item.where, "required"))
                    continue
                value = values[item.param.name] = coerce_scalar(text, item.types)
                schema = item.param.schema
                if schema is not None and not schema.is_valid(value):
                    for violation in schema.validate(value):
                        result.violations.append(Violation(item.where + violation.pointer, violation.rule))
            if values:
                result.values["path"] = values
            return result
        query = query or {}
        for location, compiled in self._by_location.items():
            source: Mapping[str, Any]
            if location == "path":
                source = path or {}
            elif location == "query":
                source = query
            elif location == "header":
                source = {k.lower(): v for k, v in (headers or {}).items()}
            else:
                source = cookies or {}
            for item in compiled:
                if item.scalar:
                    raw: Any = source.get(item.key)
                    if raw is None:
                        if item.param.required:
                            result.violations.append(Violation(item.where, "required"))
                    else:
                        self._check(item, item.where, coerce_scalar(raw, item.types), result)
                else:
                    self._one(item, source, query, result)
        if not self.allow_unknown_query:
            for name in query:
                if name not in self._known_query and not self._deep_object_key(name):
                    result.violations.append(Violation(jp.join("/query", name), "undeclared"))
        return result

    def _deep_object_key(self, name: str) -> bool:
        base = name.split("[", 1)[0]
        return base != name and base in self._known_query

    def _one(
        self,
        item: _Compiled,
        source: Mapping[str, Any],
        query: Mapping[str, Sequence[str]],
        result: ParameterResult,
    ) -> None:
        param = item.param
        where = item.where
        raw = source.get(item.key)
        value: Any
        if param.location == "query" and param.style == "deepObject":
            value = self._deep_object(param.name, query, item)
            raw = value if value else None
        elif (
            param.location == "query"
            and param.explode
            and param.style == "form"
            and "object" in item.types
            and item.prop_types
        ):
            value = {
                name: coerce_scalar(query[name][0], types)
                for name, types in item.prop_types.items()
                if query.get(name)
            }
            raw = value if value else None
        if raw is None:
            if param.required:
                result.violations.append(Violation(where, "required"))
            return
        if param.location == "query" and param.style != "deepObject" and not isinstance(raw, dict):
            values = list(raw)
            if not values:
                return
            if "array" in item.types and param.style == "form" and param.explode:
                value = [coerce_scalar(v, item.item_types) for v in values]
                self._check(item, where, value, result)
                return
            if len(values) > 1:
                result.violations.append(Violation(where, "multiple"))
                return
            raw = values[0]
        if isinstance(raw, dict):
            value = raw
        elif param.content_type is not None:
            try:
                value = orjson.loads(raw) if "json" in param.content_type else raw
            except orjson.JSONDecodeError:
                result.violations.append(Violation(where, "content"))
                return
        else:
            parsed = self._styled(raw, item)
            if parsed is None:
                result.violations.append(Violation(where, "style"))
                return
            value = parsed[0]
        if (
            raw == ""
            and not param.allow_empty_value
            and param.location == "query"
            and "string" not in item.types
        ):
            result.violations.append(Violation(where, "allowEmptyValue"))
            return
        self._check(item, where, value, result)

    def _check(self, item: _Compiled, where: str, value: Any, result: ParameterResult) -> None:
        param = item.param
        result.values.setdefault(param.location, {})[param.name] = value
        if param.schema is None or param.schema.is_valid(value):
            return
        for violation in param.schema.validate(value):
            result.violations.append(Violation(where + violation.pointer, violation.rule))

    def _deep_object(self, name: str, query: Mapping[str, Sequence[str]], item: _Compiled) -> dict[str, Any]:
        prefix = name + "["
        value: dict[str, Any] = {}
        for key, values in query.items():
            if key.startswith(prefix) and key.endswith("]") and values:
                prop = key[len(prefix) : -1]
                value[prop] = coerce_scalar(values[0], item.prop_types.get(prop, _ALL_TYPES))
        return value

    def _styled(self, raw: str, item: _Compiled) -> tuple[Any] | None:
        """``(value,)`` parsed from one string by style, or None when it does not fit."""
        param = item.param
        style, explode = param.style, param.explode
        text = raw
        if style == "label":
            if not text.startswith("."):
                return None
            text = text[1:]
            separator = "." if explode else ","
        elif style == "matrix":
            prefix = ";" + param.name
            if not text.startswith(prefix):
                return None
            if explode and "array" in item.types:
                parts = [p.partition("=")[2] for p in text[1:].split(";")]
                return ([coerce_scalar(p, item.item_types) for p in parts],)
            text = text[len(prefix) :].removeprefix("=")
            separator = ","
        elif style == "spaceDelimited":
            separator = " "
        elif style == "pipeDelimited":
            separator = "|"
        else:  # form, simple
            separator = ","
        if "array" in item.types:
            parts = text.split(separator) if text else []
            return ([coerce_scalar(p, item.item_types) for p in parts],)
        if "object" in item.types and item.prop_types:
            if explode and style in ("simple", "label", "matrix"):
                pairs = [p.partition("=") for p in text.split(separator)]
                if any(not sep for _, sep, _ in pairs):
                    return None
                return ({k: coerce_scalar(v, item.prop_types.get(k, _ALL_TYPES)) for k, _, v in pairs},)
            parts = text.split(",")
            if len(parts) % 2:
                return None
            return (
                {
                    parts[i]: coerce_scalar(parts[i + 1], item.prop_types.get(parts[i], _ALL_TYPES))
                    for i in range(0, len(parts), 2)
                },
            )
        return (coerce_scalar(text, item.types),)
