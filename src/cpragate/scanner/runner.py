"""Runs the checks against a target: drives each check's generator, answering its
probes through the :class:`~cpragate.scanner.transport.Transport` (HTTP, TLS) and the
:class:`~cpragate.scanner.canary.Canary`.

A check that raises is recorded as a note and the scan goes on (``strict=True`` re-raises,
for tests); the transport's budget and safety rules apply to every probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cpragate.scanner.checks import CHECKS
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import Burst, CanaryPoll, CheckGen, Finding, HttpRequest, HttpResponse, TlsProbe

__all__ = ["Prober", "ScanResult", "run_checks"]


class Prober(Protocol):
    """What answers probes (the Transport in a scan, a fake in tests)."""

    def send(self, req: HttpRequest) -> HttpResponse: ...

    def tls_probe(self, max_version: str) -> bool | None: ...

    def send_many(self, reqs: tuple[HttpRequest, ...], concurrency: int) -> list[HttpResponse]: ...


class Poller(Protocol):
    def poll(self, token: str, wait: float = 1.0) -> list[str]: ...


@dataclass
class ScanResult:
    findings: list[Finding]
    notes: list[str]
    requests: int
    seconds: float
    checks: list[str] = field(default_factory=list)


Progress = Callable[[str, int], None]
"""Called with (check name, requests sent so far) after each probe."""


def drive(gen: CheckGen, prober: Prober, canary: Poller | None, on_probe: Callable[[], None] | None = None) -> None:
    """Run one check to completion, answering each probe."""
    try:
        probe: Any = next(gen)
        while True:
            if isinstance(probe, HttpRequest):
                answer: Any = prober.send(probe)
            elif isinstance(probe, Burst):
                answer = prober.send_many(probe.requests, probe.concurrency)
            elif isinstance(probe, TlsProbe):
                answer = prober.tls_probe(probe.max_version)
            elif isinstance(probe, CanaryPoll):
                answer = canary.poll(probe.token, probe.wait) if canary is not None else []
            else:  # pragma: no cover - a programming error in a check
                raise TypeError(f"a check yielded {type(probe).__name__}, not a probe")
            if on_probe is not None:
                on_probe()
            probe = gen.send(answer)
    except StopIteration:
        return


def run_checks(ctx: ScanContext, prober: Prober, *, canary: Poller | None = None, only: Iterable[str] | None = None,
               skip: Iterable[str] = (), progress: Progress | None = None, strict: bool = False) -> ScanResult:  # fmt: skip
    """Run the selected checks in their fixed order; discovery always runs."""
    wanted = set(only) if only is not None else None
    skipped = set(skip)
    started = time.monotonic()
    sent = 0
    ran: list[str] = []
    for name, check in CHECKS:
        if name != "discovery" and ((wanted is not None and name not in wanted) or name in skipped):
            continue
        ran.append(name)

        def tick(name: str = name) -> None:
            nonlocal sent
            sent += 1
            if progress is not None:
                progress(name, sent)

        try:
            drive(check(ctx), prober, canary, tick)
        except Exception as exc:
            if strict:
                raise
            ctx.notes.append(f"{name}: the check stopped early ({type(exc).__name__}); its other results are kept")
    findings = sorted(ctx.findings, key=lambda f: (-f.severity, f.owasp, f.operation, f.check))
    return ScanResult(findings, ctx.notes, sent, time.monotonic() - started, ran)
