import json
from pathlib import Path

import pytest

from cpragate.cli.main import build_parser, main

CFG = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "http://127.0.0.1:9", allow_plaintext: true}}
routes: [{path: /a, upstream: o}]
"""


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert "cpragate 0.1.0" in capsys.readouterr().out
    for cmd in (["--help"], ["run", "--help"], ["demo", "--help"], ["config", "check", "--help"], ["config", "schema", "--help"], ["errors", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(cmd)
        assert e.value.code == 0
    assert "pii" in build_parser().format_help()


def test_config_check_ok_and_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(CFG)
    assert main(["config", "check", str(p)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "plaintext" in out


def test_config_check_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(CFG.replace("upstream: o", "upstream: x"))
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "CPG-CFG-001" in err and "g.yaml:4" in err


def test_config_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "cpragate configuration" and "routes" in schema["properties"]


def test_errors_lookup(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors"]) == 0
    assert "CPG-ROUTE-001" in capsys.readouterr().out
    assert main(["errors", "cpg-route-001"]) == 0
    out = capsys.readouterr().out
    assert "cause:" in out and "fix:" in out
    assert main(["errors", "CPG-NOPE"]) == 2
