"""What a phase method returns (Envoy-style filter statuses, as values tests assert on).

* ``CONTINUE`` — go on to the next filter.
* ``Respond(response)`` — answer with this response now (e.g. a CORS preflight); the
  remaining filters of the phase are skipped, the complete phase still runs.
* ``Deny(error, rule=...)`` — refuse with the error's problem response; ``rule`` names
  the rule that decided, for the audit trail (never shown to the client).
  ``violations`` — ``(JSON pointer, rule)`` pairs the problem body lists for the client
  to fix its request (validation); never values from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from cpragate.core.messages import Response
from cpragate.errors import GatewayError

__all__ = ["CONTINUE", "Continue", "Deny", "Respond", "Verdict"]


class Continue:
    """Proceed; use the ``CONTINUE`` singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CONTINUE"


CONTINUE: Final = Continue()


@dataclass(frozen=True, slots=True)
class Respond:
    response: Response


@dataclass(frozen=True, slots=True)
class Deny:
    error: type[GatewayError]
    rule: str = ""
    status: int | None = None
    headers: tuple[tuple[bytes, bytes], ...] = field(default=())
    violations: tuple[tuple[str, str], ...] = field(default=())


Verdict = Continue | Respond | Deny
