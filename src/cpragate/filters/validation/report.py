"""What the validation and conformance filters record on the exchange (never values).

``Exchange.validation`` and ``Exchange.conformance`` hold these for the audit trail and
metrics: the operation, the mode, what was (or in monitor mode would have been) done,
and each violation or removed field by JSON pointer. Values never appear: they may be
personal data.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from cpragate.openapi.validator import Violation

__all__ = ["ConformanceReport", "Mode", "ValidationReport"]

Mode = Literal["enforce", "monitor"]


class _Report:
    """Plain classes, not dataclasses: compiled with the data plane, a dataclass keeps the
    ``__init__`` the dataclasses module generates, interpreted (~2.5k instructions per
    response for ConformanceReport). Equality and repr as a dataclass gives them."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Report)
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.FIELDS)})"


class ValidationReport(_Report):
    """One request checked against its OpenAPI operation.

    operation: the operationId, or ``METHOD /template`` when the spec gives none.
    outcome: ``refused``/``stripped``: done (enforce); ``would_*``: only recorded (monitor).
    code: the CPG-VAL code the request was (or would have been) refused with.
    violations: every violation found, by JSON pointer (``/body/role``, ``/query/limit``) and rule.
    stripped: body properties removed (or that would be) before forwarding: mass assignment
    in ``strip`` mode. JSON pointers into the body.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ("operation", "mode", "outcome", "code", "violations", "stripped")

    def __init__(
        self,
        operation: str,
        mode: Mode,
        outcome: Literal["valid", "refused", "would_refuse", "stripped", "would_strip"] = "valid",
        code: str | None = None,
        violations: tuple[Violation, ...] = (),
        stripped: tuple[str, ...] = (),
    ) -> None:
        self.operation = operation
        self.mode: Mode = mode
        self.outcome: Literal["valid", "refused", "would_refuse", "stripped", "would_strip"] = outcome
        self.code = code
        self.violations = violations
        self.stripped = stripped


class ConformanceReport(_Report):
    """One response checked against the operation's response schema.

    outcome: ``removed``: undeclared properties were taken out; ``would_remove``: monitor
    mode; ``withheld``: the response was refused (``on_violation: block`` or ``on_error:
    deny``); ``unchecked``: the spec declares no JSON schema for this status/content type.
    removed: undeclared properties by path, array indexes as ``*``
    (``/items/*/password_hash``), with how many were found.
    violations: schema violations of the response (after removal), by JSON pointer and rule.
    reason: why a response was unchecked or withheld (``undeclared_status``, ``not_json``...).
    """

    FIELDS: ClassVar[tuple[str, ...]] = ("operation", "mode", "status", "outcome", "removed", "violations", "reason")

    def __init__(
        self,
        operation: str,
        mode: Mode,
        status: int,
        outcome: Literal["conforming", "removed", "would_remove", "withheld", "unchecked"] = "conforming",
        removed: dict[str, int] | None = None,
        violations: tuple[Violation, ...] = (),
        reason: str = "",
    ) -> None:
        self.operation = operation
        self.mode: Mode = mode
        self.status = status
        self.outcome: Literal["conforming", "removed", "would_remove", "withheld", "unchecked"] = outcome
        self.removed: dict[str, int] = {} if removed is None else removed
        self.violations = violations
        self.reason = reason
