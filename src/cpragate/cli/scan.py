"""``cpragate scan``: the active API security scanner for CI (docs/scanner.md).

Exit codes: 0 nothing at or above ``--fail-on`` (after the baseline), 1 findings at or
above it, 2 the scan could not run (bad arguments, unreadable spec or identity file,
unreachable target).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cpragate.errors import ScanError
from cpragate.openapi import load_spec

__all__ = ["register", "run"]

_FAIL_ON = ("critical", "high", "medium", "low", "info", "never")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scan`` command to the CLI."""
    from cpragate.scanner.checks import check_names

    p = subparsers.add_parser(
        "scan",
        help="actively test an API for the OWASP API Top 10 (for CI)",
        description="Run active tests derived from an OpenAPI spec and the given identities against a target "
        "(BOLA, broken authentication, property-level authorization, resource limits, BFLA, SSRF, misconfiguration, "
        "inventory, injection). Safe by default: only the target host, a bounded request rate and budget, and no "
        "DELETE/PUT/PATCH without --unsafe-methods. Exit 0: clean, 1: findings at or above --fail-on, 2: the scan could not run.",
    )
    p.add_argument("--spec", required=True, help="the target's OpenAPI 3.0/3.1 file")
    p.add_argument("--target", required=True, help="base URL of the API under test, e.g. https://staging.example")
    p.add_argument("--auth", action="append", default=[], metavar="NAME=CRED",
                   help="an identity: NAME=TOKEN, NAME=@FILE or NAME='Header: value' (repeat; two are needed for BOLA)")  # fmt: skip
    p.add_argument("--admin", action="append", default=[], metavar="NAME", help="an identity that is an administrator (BFLA skips it)")
    p.add_argument("--unsafe-methods", action="store_true", help="allow DELETE, PUT, PATCH and destructive-looking POSTs")
    p.add_argument("--format", choices=("table", "json", "sarif", "junit"), default="table", help="report format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here (default: standard output)")
    p.add_argument("--fail-on", choices=_FAIL_ON, default="high", help="exit 1 on findings at or above this severity (default high)")
    p.add_argument("--baseline", metavar="FILE", help="accepted findings (from --write-baseline) that do not fail the build")
    p.add_argument("--write-baseline", metavar="FILE", help="write every finding of this scan as accepted to FILE")
    p.add_argument("--suggest-policy", metavar="FILE", help="write a cpragate policy fragment that fixes the findings at the gateway")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    p.add_argument("--max-requests", type=int, default=2000, help="request budget for the whole scan (default 2000)")
    p.add_argument("--burst", type=int, default=40, help="size of the rate-limit burst (0 skips the rate-limit test; default 40)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    p.add_argument("--ca-file", metavar="PEM", help="CA bundle to verify the target's certificate (private CAs)")
    p.add_argument("--insecure", action="store_true", help="do not verify the target's certificate (throwaway environments only)")
    p.add_argument("--checks", metavar="LIST", help=f"only these checks, comma-separated: {','.join(check_names()[1:])}")
    p.add_argument("--skip", metavar="LIST", default="", help="skip these checks, comma-separated")
    p.add_argument("--canary-host", default="127.0.0.1", help="address the SSRF canary listens on and the target is told (default 127.0.0.1)")
    p.add_argument("--no-canary", action="store_true", help="do not start the SSRF canary (URL parameters are not probed)")
    p.add_argument("--no-progress", action="store_true", help="no live progress on standard error")
    p.add_argument("--dry-run", action="store_true", help="print what the scan would exercise (from the spec alone) and send nothing")
    p.set_defaults(func=run)


def _base_path(target: str, spec_servers: list[str]) -> str:
    path = urlsplit(target).path.rstrip("/")
    if path:
        return path
    for url in spec_servers:
        p = urlsplit(url).path.rstrip("/")
        if p and "{" not in p:  # a server variable in the path: the target must give the base path
            return p
    return ""


def run(args: argparse.Namespace) -> int:
    """Run ``scan``; returns the exit code.

    :raises ScanError: bad arguments, identity or baseline file; ScanTargetError when the target does not answer.
    """
    from cpragate.scanner import scan
    from cpragate.scanner.baseline import apply_baseline, dump_baseline, load_baseline
    from cpragate.scanner.checks import check_names
    from cpragate.scanner.model import Severity
    from cpragate.scanner.policy import suggest_policy
    from cpragate.scanner.report import render

    if args.insecure and args.ca_file:
        raise ScanError("--insecure and --ca-file contradict each other; keep one.")
    if args.rate <= 0 or args.max_requests < 1 or args.burst < 0:
        raise ScanError("--rate must be > 0, --max-requests >= 1 and --burst >= 0.")
    names = set(check_names())
    only = [c.strip() for c in args.checks.split(",") if c.strip()] if args.checks else None
    skip = [c.strip() for c in args.skip.split(",") if c.strip()]
    unknown = [c for c in (only or []) + skip if c not in names]
    if unknown:
        raise ScanError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}.")
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ScanError(f"--ca-file {args.ca_file} does not exist.")
    accepted = load_baseline(args.baseline) if args.baseline else set()
    spec = load_spec(args.spec)
    if args.dry_run:
        from cpragate.scanner.plan import plan

        sys.stdout.write(plan(spec, unsafe_methods=args.unsafe_methods, identities=len(args.auth)))
        return 0
    verify: bool | str = False if args.insecure else (args.ca_file or True)

    result = scan(
        spec, args.target, args.auth,
        base_path=_base_path(args.target, [s.url for s in spec.servers]),
        unsafe_methods=args.unsafe_methods, rate=args.rate, max_requests=args.max_requests, burst=args.burst,
        timeout=args.timeout, verify=verify, only=only, skip=skip, admins=args.admin,
        canary_host=None if args.no_canary else args.canary_host,
        progress=not args.no_progress,
    )  # fmt: skip
    if args.write_baseline:
        Path(args.write_baseline).write_bytes(dump_baseline(result.findings))
    result.findings, suppressed = apply_baseline(result.findings, accepted)
    fail_on = Severity.CRITICAL if args.fail_on == "never" else Severity.parse(args.fail_on)
    text = render(args.format, result, target=args.target, spec_path=args.spec, fail_on=fail_on, suppressed=suppressed)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{len(result.findings)} finding(s) ({suppressed} accepted by the baseline); report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.suggest_policy:
        Path(args.suggest_policy).write_text(suggest_policy(result.findings, spec_path=args.spec), encoding="utf-8")
    if args.fail_on == "never":
        return 0
    return 1 if any(f.severity >= fail_on for f in result.findings) else 0
