"""`cpragate replay`: a tiny run end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_replay_takes_the_detector_settings_from_a_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'listeners: [{bind: "127.0.0.1:0"}]\n'
        'upstreams: {o: {url: "https://api.internal"}}\n'
        "routes: [{path: /x, upstream: o}]\n"
        "filters: {anomaly: {credentials: {enabled: false}}}\n"  # off in the policy; replay turns detection on
    )
    rc = main(["replay", "--config", str(policy), "--requests", "3000", "--consumers", "10", "--days", "1.5",
               "--per-kind", "1", "--check"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1  # credential attacks are missed with that detector off: a missed target
    assert "MISSED" in out and "credential_stuffing" in out
