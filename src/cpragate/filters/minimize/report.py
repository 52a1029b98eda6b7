"""What the minimize filter records on the exchange (never values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MinimizeReport"]


@dataclass(slots=True)
class MinimizeReport:
    """The rule that applied to one exchange and the fields it removed."""

    rule: str
    """Which rule matched: ``consumer:NAME``, ``purpose:PURPOSE`` or ``default``."""
    mode: Literal["enforce", "monitor"]
    request_removed: dict[str, int] = field(default_factory=dict)
    """Request-body fields removed (monitor: that would be), by path with array indexes
    as ``*`` (``/items/*/ssn``), with counts."""
    response_removed: dict[str, int] = field(default_factory=dict)
    """Response-body fields removed (monitor: that would be), same form."""
    skipped: str = ""
    """Why a body was not minimized (``not_json``), or empty."""
