"""Compiled JSON Schema validation that reports where and which rule, never the value.

The engine is jsonschema-rs (Rust; see bench/OPENAPI_RESULTS.md for why): a schema is
compiled once when the spec loads, and each request costs one call into Rust.

A :class:`Violation` is ``(pointer, rule)``: the JSON pointer of the offending place
in the *instance* and the JSON Schema keyword that refused it. jsonschema-rs messages
quote the submitted value, which may be personal data, so they are never kept. For
``required`` and ``additionalProperties`` the pointer names the missing or unexpected
property (a name from the schema or a key the client sent, not a value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jsonschema_rs

from cpragate.errors import SpecSchemaError
from cpragate.openapi import pointer as jp

__all__ = ["DEFAULT_MAX_VIOLATIONS", "SchemaValidator", "Violation"]

DEFAULT_MAX_VIOLATIONS = 50
"""Violations listed per document; more are summarized by the caller as 'and more'."""

# Catastrophic backtracking in a spec's `pattern` must not stall a worker: a match that
# needs more steps than this fails as a `pattern` violation instead.
_REGEX = jsonschema_rs.FancyRegexOptions(backtrack_limit=100_000)

_RULE_ALIASES = {
    "oneOfMultipleValid": "oneOf",
    "oneOfNotValid": "oneOf",
    "falseSchema": "false",
    "backtrackLimitExceeded": "pattern",
    "regexEngineFailure": "pattern",
    "constant": "const",
}


class Violation(NamedTuple):
    """One reason a document was refused: where (JSON pointer) and which rule (keyword)."""

    pointer: str
    """JSON pointer into the validated document, ``""`` for the document itself."""
    rule: str
    """The JSON Schema keyword (``type``, ``required``, ``maxLength``...) or a limit name."""


def _rule(kind: str) -> str:
    name = kind[:1].lower() + kind[1:]
    return _RULE_ALIASES.get(name, name)


class SchemaValidator:
    """One compiled schema.

    :param schema: a JSON Schema 2020-12 document (a bundle from
        :class:`~cpragate.openapi.schema.SchemaBundler`, or any plain schema).
    :param where: names the schema in errors (``file:line (at #/pointer)``).
    :raises SpecSchemaError: when the schema itself is invalid.
    """

    __slots__ = ("_validator", "schema")

    def __init__(self, schema: Any, *, where: str = "schema") -> None:
        self.schema = schema
        """The compiled JSON Schema document."""
        try:
            self._validator = jsonschema_rs.Draft202012Validator(
                schema,
                validate_formats=True,
                ignore_unknown_formats=True,
                pattern_options=_REGEX,
            )
        except jsonschema_rs.ValidationError as exc:
            at = jp.from_tokens(exc.instance_path)
            raise SpecSchemaError(
                f"{where}: the schema keyword at {at or '/'} is invalid ({exc.kind.name})."
            ) from None
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise SpecSchemaError(f"{where}: the schema cannot be compiled ({exc}).") from None

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` (parsed JSON) is valid; stops at the first error."""
        return self._validator.is_valid(instance)

    def checker(self) -> Callable[[Any], bool]:
        """:meth:`is_valid` as the Rust validator's own bound method: no Python frame per call
        (for a caller that keeps it, per route)."""
        return self._validator.is_valid

    def validate(self, instance: Any, *, limit: int = DEFAULT_MAX_VIOLATIONS) -> list[Violation]:
        """Every violation in ``instance``, at most ``limit``, in a stable order.

        Valid documents return ``[]`` after a single fast check.
        """
        if self._validator.is_valid(instance):
            return []
        found: dict[Violation, None] = {}
        for error in self._validator.iter_errors(instance):
            base = jp.from_tokens(error.instance_path)
            kind = error.kind
            if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
                found[Violation(jp.join(base, str(kind.property)), "required")] = None
            elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
                for name in kind.unexpected:
                    found[Violation(jp.join(base, name), "additionalProperties")] = None
            elif isinstance(kind, jsonschema_rs.ValidationErrorKind.UnevaluatedProperties):
                for name in kind.unexpected:
                    found[Violation(jp.join(base, name), "unevaluatedProperties")] = None
            else:
                found[Violation(base, _rule(kind.name))] = None
            if len(found) >= limit:
                break
        return sorted(found)[:limit]
