"""What the validation and conformance filters record on the exchange (never values).

``Exchange.validation`` and ``Exchange.conformance`` hold these for the audit trail and
metrics: the operation, the mode, what was (or in monitor mode would have been) done,
and each violation or removed field by JSON pointer. Values never appear: they may be
personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cpragate.openapi.validator import Violation

__all__ = ["ConformanceReport", "Mode", "ValidationReport"]

Mode = Literal["enforce", "monitor"]


@dataclass(slots=True)
class ValidationReport:
    """One request checked against its OpenAPI operation."""

    operation: str
    """The operationId, or ``METHOD /template`` when the spec gives none."""
    mode: Mode
    outcome: Literal["valid", "refused", "would_refuse", "stripped", "would_strip"] = "valid"
    """``refused``/``stripped``: done (enforce); ``would_*``: only recorded (monitor)."""
    code: str | None = None
    """The CPG-VAL code the request was (or would have been) refused with."""
    violations: tuple[Violation, ...] = ()
    """Every violation found, by JSON pointer (``/body/role``, ``/query/limit``) and rule."""
    stripped: tuple[str, ...] = ()
    """Body properties removed (or that would be) before forwarding: mass assignment in
    ``strip`` mode. JSON pointers into the body."""


@dataclass(slots=True)
class ConformanceReport:
    """One response checked against the operation's response schema."""

    operation: str
    mode: Mode
    status: int
    outcome: Literal["conforming", "removed", "would_remove", "withheld", "unchecked"] = "conforming"
    """``removed``: undeclared properties were taken out; ``would_remove``: monitor mode;
    ``withheld``: the response was refused (``on_violation: block`` or ``on_error: deny``);
    ``unchecked``: the spec declares no JSON schema for this status/content type."""
    removed: dict[str, int] = field(default_factory=dict)
    """Undeclared properties by path, array indexes as ``*`` (``/items/*/password_hash``),
    with how many were found."""
    violations: tuple[Violation, ...] = ()
    """Schema violations of the response (after removal), by JSON pointer and rule."""
    reason: str = ""
    """Why a response was unchecked or withheld (``undeclared_status``, ``not_json``...)."""
