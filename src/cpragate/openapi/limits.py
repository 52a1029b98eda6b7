"""Parser-abuse limits, checked on parsed JSON before any schema runs.

A schema says what a valid document looks like; it does not stop a client from
sending a million-element array or 10,000 levels of nesting that make every later
walker (schema validation, PII scan, minimization) slow. :func:`check_limits` is one
iterative pass with no recursion (deep nesting cannot overflow the stack) that stops
at the first limit exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cpragate.openapi import pointer as jp
from cpragate.openapi.validator import Violation

__all__ = ["JsonLimits", "check_limits"]


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


def check_limits(value: Any, limits: JsonLimits) -> Violation | None:
    """The first limit ``value`` exceeds, or None.

    The violation's rule is the limit's name (``max_depth``, ``max_array_length``,
    ``max_string_length``, ``max_keys``) and its pointer the offending place.
    """
    # The fast pass keeps no paths (building them costs more than the check itself);
    # only a refused document pays for a second pass that names the place.
    if _first_violation(value, limits, with_paths=False) is None:
        return None
    return _first_violation(value, limits, with_paths=True)


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
