"""``cpragate inventory export`` from a saved snapshot (over the admin API: tests/e2e/test_admin.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from cpragate.cli.main import main
from cpragate.filters.inventory.model import DocumentedOp, Inventory


def snapshot(tmp_path: Path) -> Path:
    inv = Inventory()
    inv.record("GET", "/v1/customers/{id}", "getCustomer", 200, "support-app", 1.0)
    inv.record("GET", "/v1/admin", None, 404, None, 2.0, denied=True)
    p = tmp_path / "inv.json"
    p.write_bytes(orjson.dumps(inv.snapshot([DocumentedOp("GET", "/v1/customers/{id}", "getCustomer", False, "getCustomer")])))
    return p


def test_export_openapi_and_csv_from_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = snapshot(tmp_path)
    assert main(["inventory", "export", "--snapshot", str(snap)]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert set(doc["paths"]) == {"/v1/customers/{id}", "/v1/admin"}
    assert doc["paths"]["/v1/admin"]["get"]["x-cpragate"]["state"] == "shadow"
    out = tmp_path / "inv.csv"
    assert main(["inventory", "export", "--snapshot", str(snap), "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["template"], r["state"]) for r in rows] == [("/v1/admin", "shadow"), ("/v1/customers/{id}", "documented")]


def test_errors_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["inventory", "export", "--snapshot", str(bad)]) == 2
    assert "CPG-ADM-001" in capsys.readouterr().err
    monkeypatch.delenv("CPRAGATE_ADMIN_KEY", raising=False)
    assert main(["inventory", "export"]) == 2
    assert "CPRAGATE_ADMIN_KEY" in capsys.readouterr().err
    monkeypatch.setenv("CPRAGATE_ADMIN_KEY", "k" * 30)
    assert main(["inventory", "export", "--url", "file:///etc/passwd"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
