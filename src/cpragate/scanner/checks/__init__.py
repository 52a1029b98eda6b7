"""The scanner's checks, one module per OWASP API Top 10 category (plus discovery).

A check is a generator ``run(ctx)`` that yields probes (:class:`~cpragate.scanner.model.HttpRequest`,
:class:`~cpragate.scanner.model.TlsProbe`, :class:`~cpragate.scanner.model.CanaryPoll`),
is sent their answers by the runner, and reports findings into the context. Checks never
do I/O themselves, so each one is tested by feeding it answers.

``CHECKS`` is the order the runner uses: discovery first (it finds objects and learns
which operations refuse anonymous callers), exposure analysis after everything that
records answers, the rate-limit burst last (throttling must not hide other findings).
"""

from __future__ import annotations

from collections.abc import Callable

from cpragate.scanner.checks import (
    auth,
    bfla,
    bola,
    discovery,
    injection,
    inventory,
    misconfig,
    properties,
    resources,
    ssrf,
)
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import CheckGen

__all__ = ["CHECKS", "check_names"]

CHECKS: tuple[tuple[str, Callable[[ScanContext], CheckGen]], ...] = (
    ("discovery", discovery.run),
    ("auth", auth.run),
    ("bola", bola.run),
    ("bfla", bfla.run),
    ("mass-assignment", properties.run),
    ("page-size", resources.run),
    ("ssrf", ssrf.run),
    ("injection", injection.run),
    ("misconfig", misconfig.run),
    ("inventory", inventory.run),
    ("exposure", properties.run_exposure),
    ("rate-limit", resources.run_rate_limit),
)


def check_names() -> list[str]:
    """Names accepted by ``--checks`` / ``--skip``."""
    return [name for name, _ in CHECKS]
