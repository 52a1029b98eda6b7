"""``cpragate pii scan``: formats, outputs, --mask, --fail-on; never prints raw values."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from cpragate.cli import pii as cli
from cpragate.errors import PiiInputError

DOC = {"customer": {"email": "jane.doe@example.com", "ssn": "219-45-6789"}, "note": "call 415-555-0132"}


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    cli.register(sub)
    return p.parse_args(["pii", "scan", *argv])


def test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "doc.json"
    f.write_bytes(orjson.dumps(DOC))
    args = parse(str(f))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "$.customer.ssn" in out and "us_ssn" in out and "***-**-6789" in out
    assert "219-45-6789" not in out and "jane.doe@example.com" not in out
    assert "3 finding(s), 1 SPI" in out


def test_json_output_and_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "doc.json"
    f.write_bytes(orjson.dumps(DOC))
    args = parse(str(f), "--output", "json", "--fail-on", "spi")
    assert cli.run(args) == 1
    rows = orjson.loads(capsys.readouterr().out)
    assert {r["entity"] for r in rows} == {"email", "us_ssn", "phone"}


def test_ndjson_and_mask_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rows.ndjson"
    f.write_bytes(b'{"ssn": "219-45-6789"}\n\n{"email": "a@example.com"}\n')
    out = tmp_path / "masked.ndjson"
    args = parse(str(f), "--mask", "--out", str(out))
    assert cli.run(args) == 0
    report = capsys.readouterr().out
    assert "1:$.ssn" in report and "3:$.email" in report
    masked = out.read_bytes()
    assert b"219-45-6789" not in masked and masked.count(b"\n") == 3


def test_text_mask_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "note.txt"
    f.write_text("my ssn is 219-45-6789")
    args = parse(str(f), "--mask")
    assert cli.run(args) == 0
    cap = capsys.readouterr()
    assert cap.out == "my ssn is ***-**-6789"
    assert "1 finding(s), 1 SPI" in cap.err


def test_auto_detects_ndjson_and_text(tmp_path: Path) -> None:
    nd = tmp_path / "x"
    nd.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert cli._detect_format(str(nd), nd.read_bytes()) == "ndjson"
    assert cli._detect_format("x", b"hello there") == "text"
    with pytest.raises(PiiInputError):
        cli._detect_format("x.json", b"{bad")


def test_missing_file() -> None:
    with pytest.raises(PiiInputError):
        cli.run(parse("/nonexistent/file.json"))


def test_no_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "doc.json"
    f.write_bytes(b'{"status": "ok"}')
    assert cli.run(parse(str(f), "--fail-on", "any")) == 0
    assert "no personal information found" in capsys.readouterr().out
