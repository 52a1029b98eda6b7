"""The active API security scanner (``cpragate scan``): OWASP API Top 10 tests derived
from an OpenAPI spec and a few identities, run against a target in CI.

    from cpragate.openapi import load_spec
    from cpragate.scanner import scan

    result = scan(load_spec("openapi.yaml"), "https://staging.example",
                  ["alice=@alice.token", "bob=@bob.token"])
    for f in result.findings: print(f.severity.label, f.owasp, f.operation, f.title)

Layout: ``checks/`` (one module per check, sans-IO generators), ``runner`` (drives them),
``transport`` (the one HTTP client, with the safety rules), ``canary`` (SSRF listener),
``report`` (table, JSON, SARIF, JUnit), ``baseline``, ``policy`` (``--suggest-policy``).
See docs/scanner.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cpragate.openapi import Spec
from cpragate.scanner.context import ScanContext, ScanOptions, parse_identity
from cpragate.scanner.model import Evidence, Finding, Severity
from cpragate.scanner.runner import ScanResult, run_checks

__all__ = ["Evidence", "Finding", "ScanResult", "Severity", "scan"]


def scan(
    spec: Spec,
    target: str,
    auth: Iterable[str] = (),
    *,
    base_path: str = "",
    unsafe_methods: bool = False,
    rate: float = 20.0,
    max_requests: int = 2000,
    burst: int = 40,
    timeout: float = 10.0,
    verify: bool | str = True,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    admins: Iterable[str] = (),
    canary_host: str | None = "127.0.0.1",
    progress: bool = False,
    strict: bool = False,
) -> ScanResult:
    """Scan ``target`` (see ``cpragate scan --help`` for the meaning of each option).

    :raises ScanError: a malformed identity; ScanTargetError when the target does not answer.
    """
    from contextlib import ExitStack

    from cpragate.errors import ScanError
    from cpragate.scanner.canary import Canary
    from cpragate.scanner.transport import Transport

    identities = [parse_identity(spec, a, lambda p: Path(p).read_text(encoding="utf-8")) for a in auth]
    names = [i.name for i in identities]
    if len(set(names)) != len(names):
        raise ScanError(f"identity names must differ (--auth {', '.join(names)}).")
    unknown_admins = set(admins) - set(names)
    if unknown_admins:
        raise ScanError(f"--admin {', '.join(sorted(unknown_admins))} is not an identity given with --auth.")
    with ExitStack() as stack:
        transport = stack.enter_context(Transport(target, rate=rate, max_requests=max_requests, unsafe_methods=unsafe_methods,
                                                  verify=verify, timeout=timeout))  # fmt: skip
        transport.preflight()
        canary = stack.enter_context(Canary(canary_host)) if canary_host else None
        options = ScanOptions(target=target, unsafe_methods=unsafe_methods, burst=burst,
                              canary_url=canary.url if canary else None, admins=frozenset(admins))  # fmt: skip
        ctx = ScanContext(spec, identities, base_path=base_path, options=options)
        if not progress:
            return run_checks(ctx, transport, canary=canary, only=only, skip=skip, strict=strict)
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("starting", total=None)

            def tick(check: str, sent: int) -> None:
                bar.update(task, description=f"[{check}] {sent} requests, {len(ctx.findings)} finding(s)")

            result = run_checks(ctx, transport, canary=canary, only=only, skip=skip, progress=tick, strict=strict)
        console.print(f"scan done: {result.requests} requests in {result.seconds:.1f} s, {len(result.findings)} finding(s)")
        return result
