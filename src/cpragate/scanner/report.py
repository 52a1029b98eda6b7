"""Scan reports: a terminal table (rich), JSON, SARIF 2.1.0 (GitHub code scanning) and
JUnit XML (any CI).

SARIF: one rule per check id with the OWASP id, the CWE and a ``security-severity``
(GitHub's 0-10 scale), one result per finding located at the operation in the spec file
(``file:line``), with a ``partialFingerprints`` entry so re-runs update instead of
duplicate. JUnit: one test case per check id and operation tested, failing when the
finding is at or above ``--fail-on``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson

from cpragate import __version__
from cpragate.scanner.model import Finding, Severity
from cpragate.scanner.runner import ScanResult

__all__ = ["render", "to_json", "to_junit", "to_sarif", "to_table"]

_SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.INFO: "note"}
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0", Severity.INFO: "1.0"}
_INFO_URI = "https://owasp.org/API-Security/editions/2023/en/0x11-t10/"


def render(fmt: str, result: ScanResult, *, target: str, spec_path: str, fail_on: Severity, suppressed: int = 0) -> str:
    if fmt == "json":
        return to_json(result, target=target, suppressed=suppressed)
    if fmt == "sarif":
        return to_sarif(result, target=target, spec_path=spec_path)
    if fmt == "junit":
        return to_junit(result, target=target, fail_on=fail_on)
    return to_table(result, target=target, suppressed=suppressed)


def to_json(result: ScanResult, *, target: str, suppressed: int = 0) -> str:
    doc = {
        "tool": {"name": "cpragate scan", "version": __version__},
        "target": target,
        "requests": result.requests,
        "seconds": round(result.seconds, 2),
        "checks": result.checks,
        "suppressed_by_baseline": suppressed,
        "summary": {s.label: sum(1 for f in result.findings if f.severity == s) for s in reversed(Severity)},
        "findings": [f.to_dict() for f in result.findings],
        "notes": result.notes,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_table(result: ScanResult, *, target: str, suppressed: int = 0, width: int = 140) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    table = Table(title=f"cpragate scan of {target}: {len(result.findings)} finding(s), {result.requests} requests, {result.seconds:.1f} s")
    for col in ("severity", "OWASP", "CWE", "check", "operation", "finding"):
        table.add_column(col, overflow="fold")
    for f in result.findings:
        table.add_row(f.severity.label, f.owasp, f"CWE-{f.cwe}", f.check, f.operation, f"{f.title}. {f.detail}")
    console.print(table)
    if suppressed:
        console.print(f"{suppressed} known finding(s) accepted by the baseline are not shown.")
    for note in result.notes:
        console.print(f"note: {note}")
    for f in result.findings:
        if f.severity >= Severity.MEDIUM:
            console.print(f"\n[{f.severity.label}] {f.check} — {f.operation}\n  fix: {f.fix}")
    return buf.getvalue()


def _location(f: Finding, spec_path: str) -> dict[str, Any]:
    uri, line = spec_path, 1
    if f.spec_location:
        file, _, num = f.spec_location.rpartition(":")
        if num.isdigit():
            uri, line = file, int(num)
    try:
        rel = os.path.relpath(uri)
        uri = rel if not rel.startswith("..") else Path(uri).as_uri()
    except ValueError:
        uri = Path(uri).as_uri()
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri.replace(os.sep, "/")}, "region": {"startLine": max(line, 1)}},
        "logicalLocations": [{"name": f.operation, "kind": "function"}],
    }


def to_sarif(result: ScanResult, *, target: str, spec_path: str) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in result.findings:
        if f.check not in rules:
            rules[f.check] = {
                "id": f.check,
                "name": "".join(w.capitalize() for w in f.check.split("-")),
                "shortDescription": {"text": f.title},
                "fullDescription": {"text": f"{f.owasp} — {f.title}"},
                "help": {"text": f.fix, "markdown": f"**Fix:** {f.fix}"},
                "helpUri": _INFO_URI,
                "properties": {
                    "tags": ["security", f.owasp, f"external/cwe/cwe-{f.cwe}"],
                    "security-severity": _SECURITY_SEVERITY[f.severity],
                    "precision": "high",
                },
            }
        elif float(_SECURITY_SEVERITY[f.severity]) > float(rules[f.check]["properties"]["security-severity"]):
            rules[f.check]["properties"]["security-severity"] = _SECURITY_SEVERITY[f.severity]
        evidence = "\n\n".join(f"--- request\n{e.request}\n--- response\n{e.response}" for e in f.evidence)
        results.append({
            "ruleId": f.check,
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.title} ({f.operation}): {f.detail}"},
            "locations": [_location(f, spec_path)],
            "partialFingerprints": {"cpragateFinding/v1": f.fingerprint},
            "properties": {"owasp": f.owasp, "cwe": f"CWE-{f.cwe}", "severity": f.severity.label, "operation": f.operation,
                           "target": target, "evidence": evidence, "fix": f.fix},
        })  # fmt: skip
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cpragate-scan", "version": __version__, "semanticVersion": __version__,
                "informationUri": _INFO_URI, "rules": list(rules.values()),
            }},
            "automationDetails": {"id": f"cpragate-scan/{target}"},
            "results": results,
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": [
                {"message": {"text": n}, "level": "note"} for n in result.notes]}],
        }],
    }  # fmt: skip
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_junit(result: ScanResult, *, target: str, fail_on: Severity) -> str:
    suite = ET.Element("testsuite", name=f"cpragate scan {target}", tests="0", failures="0", errors="0", time=f"{result.seconds:.2f}")
    by_check: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_check.setdefault(f.check, []).append(f)
    failures = 0
    cases = 0
    for name in result.checks:
        case = ET.SubElement(suite, "testcase", classname="cpragate.scan", name=f"{name}: no findings at or above {fail_on.label}")
        cases += 1
        blocking = [f for f in result.findings if _group(f.check) == name and f.severity >= fail_on]
        if blocking:
            failures += 1
            fail = ET.SubElement(case, "failure", message=f"{len(blocking)} finding(s)", type="finding")
            fail.text = "\n\n".join(f"[{f.severity.label}] {f.owasp} CWE-{f.cwe} {f.operation}: {f.title}. {f.detail}\nfix: {f.fix}" for f in blocking)
    for check, fs in sorted(by_check.items()):
        for f in fs:
            case = ET.SubElement(suite, "testcase", classname=f"cpragate.scan.{check}", name=f"{f.operation} [{f.severity.label}]")
            cases += 1
            if f.severity >= fail_on:
                failures += 1
                fail = ET.SubElement(case, "failure", message=f"{f.title}", type=f.owasp)
                fail.text = f"{f.detail}\nfix: {f.fix}\n" + "\n".join(f"--- request\n{e.request}\n--- response\n{e.response}" for e in f.evidence)
            else:
                ET.SubElement(case, "system-out").text = f"[{f.severity.label}, below --fail-on] {f.title}. {f.detail}"
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suites = ET.Element("testsuites", name="cpragate scan", tests=str(cases), failures=str(failures))
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


_GROUPS = {
    "auth": ("auth-", "jwt-", "user-enumeration"),
    "bola": ("bola",),
    "bfla": ("bfla",),
    "mass-assignment": ("mass-assignment",),
    "page-size": ("unbounded-page-size",),
    "ssrf": ("ssrf",),
    "injection": ("sql-injection", "nosql-injection"),
    "misconfig": ("plain-http", "weak-tls", "security-headers", "version-disclosure", "cors-", "verbose-errors", "unhandled-error"),
    "inventory": ("undocumented-",),
    "exposure": ("credential-exposure", "excessive-data-exposure", "spi-exposure"),
    "rate-limit": ("no-rate-limit", "no-login-throttling"),
}


def _group(check: str) -> str:
    for group, prefixes in _GROUPS.items():
        if check.startswith(prefixes):
            return group
    return check
