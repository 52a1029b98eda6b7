"""`cpragate replay`: a tiny run end to end through the CLI."""

from __future__ import annotations

import json

import pytest

from cpragate.cli.main import main


def test_replay_prints_delays_and_the_summary(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    rc = main(["replay", "--requests", "4000", "--consumers", "20", "--days", "1.5", "--per-kind", "1", "--json", "-"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "credential_stuffing" in out and "anomaly replay: 4,000 benign requests" in out
    doc = json.loads(out[out.index("{\n"):])
    assert doc["benign_requests"] == 4000 and len(doc["attacks"]) == 6


def test_replay_refuses_a_run_without_a_learning_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert "CPG-CFG-001" in err and "--days" in err


def test_replay_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["replay", "--help"])
    assert e.value.code == 0
    assert "false alarms" in capsys.readouterr().out
