"""``cpragate scan``: exit codes, report files, baseline, --suggest-policy, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cpragate.cli.main import main
from cpragate.testing.vulnapi import VulnApi


def test_scan_writes_reports_and_the_baseline_accepts_known_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with VulnApi() as api:
        (tmp_path / "alice.token").write_text(api.login("alice", "alice-Passw0rd!"))
        (tmp_path / "bob.token").write_text(api.login("bob", "bob-Passw0rd!"))
        common = ["scan", "--spec", str(api.spec_path), "--target", api.url, "--auth", f"alice=@{tmp_path / 'alice.token'}",
                  "--auth", f"bob=@{tmp_path / 'bob.token'}", "--rate", "200", "--checks", "auth,bfla,inventory", "--no-progress"]
        sarif, base, policy = tmp_path / "r.sarif", tmp_path / "baseline.json", tmp_path / "policy.yaml"
        rc = main([*common, "--format", "sarif", "-o", str(sarif), "--write-baseline", str(base), "--suggest-policy", str(policy)])
        assert rc == 1  # critical findings (alg none...) at or above the default --fail-on high
        doc = json.loads(sarif.read_text())
        assert doc["version"] == "2.1.0" and {r["ruleId"] for r in doc["runs"][0]["results"]} >= {"jwt-alg-none", "bfla"}
        assert "eyJ" not in sarif.read_text()  # no token in the report
        assert yaml.safe_load(policy.read_text())["routes"][0]["overrides"]["adminListUsers"]["authz"]["scopes"] == ["admin"]
        assert main([*common, "--format", "json", "--baseline", str(base)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["findings"] == [] and out["suppressed_by_baseline"] >= 5
        assert main([*common, "--format", "junit", "--fail-on", "never"]) == 0
        assert "<testsuites" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checks", "nope"], "unknown check(s) nope"),
        (["--insecure", "--ca-file", "x.pem"], "--insecure and --ca-file contradict"),
        (["--rate", "0"], "--rate must be > 0"),
        (["--auth", "alice"], "--auth alice=...: expected NAME=TOKEN"),
        (["--baseline", "/nonexistent.json"], "cannot read baseline"),
    ],
)
def test_bad_arguments_exit_2_with_a_fix(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cpragate.testing.vulnapi import SPEC_PATH

    rc = main(["scan", "--spec", str(SPEC_PATH), "--target", "http://127.0.0.1:9", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Fix:" in err and "CPG-SCAN-" in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["scan", "--help"])
    assert e.value.code == 0 and "--unsafe-methods" in capsys.readouterr().out


def test_dry_run_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    from cpragate.testing.vulnapi import SPEC_PATH

    # nothing listens on port 9: a dry run must not try
    assert main(["scan", "--spec", str(SPEC_PATH), "--target", "http://127.0.0.1:9", "--dry-run", "--auth", "a=x1234"]) == 0
    assert "cpragate scan plan" in capsys.readouterr().out
