"""Parser-abuse limits, checked on parsed JSON before any schema runs.

A schema says what a valid document looks like; it does not stop a client from
sending a million-element array or 10,000 levels of nesting that make every later
walker (schema validation, PII scan, minimization) slow. :func:`check_limits` asks a
compiled JSON Schema (:func:`limits_validator`, jsonschema-rs) first; only a document
it refuses is walked in Python, in one iterative pass with no recursion (deep nesting
cannot overflow the stack) that stops at the first limit exceeded and names it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from cpragate.openapi import pointer as jp
from cpragate.openapi.validator import SchemaValidator, Violation

__all__ = ["JsonLimits", "check_limits", "limits_validator", "needed_bounds"]


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """Bounds on the shape of a JSON document. The defaults suit typical JSON APIs."""

    max_depth: int = 32
    """Deepest nesting of arrays/objects; the top-level value is depth 1."""
    max_array_length: int = 10_000
    """Most elements in one array."""
    max_string_length: int = 100_000
    """Longest string value or object key, in characters."""
    max_keys: int = 1_000
    """Most keys in one object."""


def check_limits(value: Any, limits: JsonLimits, *, size: int | None = None) -> Violation | None:
    """The first limit ``value`` exceeds, or None.

    The violation's rule is the limit's name (``max_depth``, ``max_array_length``,
    ``max_string_length``, ``max_keys``) and its pointer the offending place.

    :param size: the length of the JSON text ``value`` was parsed from, when known: the
        limits that text is too short to break are not checked (a string is no longer
        than the text, n array elements take 2n - 1 bytes, n keys 4n).
    """
    # The common answer, "within limits", comes from one jsonschema-rs call (2-3x faster
    # than walking in Python). Only a refused document, or one Rust cannot read (not
    # plain JSON types, lone surrogates), pays for the walks: the first without paths,
    # the second naming the place.
    strings, arrays, keys = needed_bounds(limits, size)
    try:
        if limits_validator(limits, strings=strings, arrays=arrays, keys=keys).is_valid(value):
            return None
    except (ValueError, TypeError, OverflowError):
        pass
    if _first_violation(value, limits, with_paths=False) is None:
        return None
    return _first_violation(value, limits, with_paths=True)


def needed_bounds(limits: JsonLimits, size: int | None) -> tuple[bool, bool, bool]:
    """(string lengths, array lengths, key counts): which a JSON text of ``size`` bytes
    could break (all when the size is unknown). Depth is not among them: any can."""
    if size is None:
        return True, True, True
    return (
        size > limits.max_string_length,
        size >= 2 * limits.max_array_length - 1,
        size >= 4 * limits.max_keys,
    )


@functools.lru_cache(maxsize=64)
def limits_validator(
    limits: JsonLimits, *, strings: bool = True, arrays: bool = True, keys: bool = True
) -> SchemaValidator:
    """A compiled JSON Schema valid exactly when :func:`check_limits` finds nothing
    (depth always; string and key lengths, array lengths and key counts when asked).

    One definition per nesting level: ``d1`` (the top) to ``d{max_depth}`` bound every
    string, key, array and object and send their members to the next level;
    ``d{max_depth + 1}`` admits no array or object (too deep).
    """
    bounds: dict[str, Any] = {}
    if strings:
        bounds["maxLength"] = limits.max_string_length
        bounds["propertyNames"] = {"maxLength": limits.max_string_length}
    if arrays:
        bounds["maxItems"] = limits.max_array_length
    if keys:
        bounds["maxProperties"] = limits.max_keys
    defs: dict[str, Any] = {}
    for level in range(1, limits.max_depth + 1):
        below = {"$ref": f"#/$defs/d{level + 1}"}
        defs[f"d{level}"] = {**bounds, "items": below, "additionalProperties": below}
    leaf: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
    if strings:
        leaf["maxLength"] = limits.max_string_length
    defs[f"d{limits.max_depth + 1}"] = leaf
    return SchemaValidator({"$ref": "#/$defs/d1", "$defs": defs}, where="limits")


def _first_violation(value: Any, limits: JsonLimits, *, with_paths: bool) -> Violation | None:
    max_depth = limits.max_depth
    max_array = limits.max_array_length
    max_string = limits.max_string_length
    max_keys = limits.max_keys
    no_path: tuple[str | int, ...] = ()
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, no_path)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth, path = pop()
        if isinstance(node, dict):
            if depth > max_depth:
                return Violation(jp.from_tokens(path), "max_depth")
            if len(node) > max_keys:
                return Violation(jp.from_tokens(path), "max_keys")
            for key, child in node.items():
                if len(key) > max_string:
                    return Violation(jp.from_tokens(path), "max_string_length")
                kind = type(child)
                if kind is str:
                    if len(child) > max_string:
                        return Violation(jp.from_tokens((*path, key)), "max_string_length")
                elif kind is dict or kind is list:
                    push((child, depth + 1, (*path, key) if with_paths else no_path))
        elif isinstance(node, list):
            if depth > max_depth:
                return Violation(jp.from_tokens(path), "max_depth")
            if len(node) > max_array:
                return Violation(jp.from_tokens(path), "max_array_length")
            for index, child in enumerate(node):
                kind = type(child)
                if kind is str:
                    if len(child) > max_string:
                        return Violation(jp.from_tokens((*path, index)), "max_string_length")
                elif kind is dict or kind is list:
                    push((child, depth + 1, (*path, index) if with_paths else no_path))
        elif isinstance(node, str) and len(node) > max_string:
            return Violation(jp.from_tokens(path), "max_string_length")
    return None
