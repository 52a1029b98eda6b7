"""Report formats; the SARIF output is validated against the SARIF 2.1.0 JSON schema
(vendored next to this file, see SARIF_SCHEMA.md)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from cpragate.scanner.model import Evidence, Finding, Severity
from cpragate.scanner.report import render, to_json, to_junit, to_sarif, to_table
from cpragate.scanner.runner import ScanResult

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def result() -> ScanResult:
    ev = [Evidence("GET /notes/1\n(as identity 'bob')", "HTTP 200\n\n{\"id\": 1}", "other identity")]
    findings = [
        Finding("bola", "API1:2023", 639, Severity.HIGH, "Another user's object is readable", "GET /notes/{id}", "bob read it",
                "check owners", ev, key="read", spec_location="/abs/spec/openapi.yaml:42"),
        Finding("bola", "API1:2023", 639, Severity.CRITICAL, "x", "GET /files/{id}", "d", "f", spec_location="openapi.yaml:7"),
        Finding("security-headers", "API8:2023", 693, Severity.LOW, "Security headers are missing", "* /", "no HSTS", "send HSTS"),
    ]
    return ScanResult(findings, ["ssrf: no canary"], 120, 3.2, ["discovery", "bola", "misconfig"])


def test_sarif_is_valid_sarif_2_1_0_and_github_ready() -> None:
    doc = json.loads(to_sarif(result(), target="https://staging.example", spec_path="openapi.yaml"))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"bola", "security-headers"}
    assert rules["bola"]["properties"]["security-severity"] == "9.5"  # the rule carries its worst finding
    assert "external/cwe/cwe-639" in rules["bola"]["properties"]["tags"]
    levels = [r["level"] for r in run["results"]]
    assert levels == ["error", "error", "note"]
    loc = run["results"][1]["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "openapi.yaml"}, "region": {"startLine": 7}}
    assert run["results"][2]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert all(len(r["partialFingerprints"]["cpragateFinding/v1"]) == 32 for r in run["results"])


def test_sarif_of_a_clean_scan_is_valid() -> None:
    doc = json.loads(to_sarif(ScanResult([], [], 3, 0.1, ["discovery"]), target="t", spec_path="s.yaml"))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["runs"][0]["results"] == []


@pytest.mark.parametrize(("fail_on", "failures"), [(Severity.HIGH, 3), (Severity.LOW, 5), (Severity.CRITICAL, 2)])
def test_junit_fails_cases_at_or_above_the_threshold(fail_on: Severity, failures: int) -> None:
    root = ET.fromstring(to_junit(result(), target="t", fail_on=fail_on))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests") or 0) == len(cases) == 6  # 3 checks + 3 findings
    assert int(suite.get("failures") or 0) == failures == len([c for c in cases if c.find("failure") is not None])


def test_json_and_table() -> None:
    doc = json.loads(to_json(result(), target="t", suppressed=2))
    assert doc["summary"] == {"critical": 1, "high": 1, "medium": 0, "low": 1, "info": 0}
    assert doc["suppressed_by_baseline"] == 2 and doc["findings"][0]["evidence"][0]["note"] == "other identity"
    table = to_table(result(), target="t", suppressed=2)
    assert "Another user's object is readable" in table and "2 known finding(s)" in table and "note: ssrf" in table
    assert render("table", result(), target="t", spec_path="s", fail_on=Severity.HIGH).startswith(" ") or "cpragate scan" in table
