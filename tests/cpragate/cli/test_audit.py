from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from cpragate.cli.audit import parse_when
from cpragate.cli.main import main
from cpragate.config import load_config
from cpragate.storage.audit_writer import open_audit

CONFIG = """
state_dir: {state}
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams: {{o: {{url: "http://127.0.0.1:9", allow_plaintext: true}}}}
routes:
  - {{path: "/v1/customers/{{id}}", upstream: o, personal: true, audit: {{subject_param: id}}}}
storage: {{url: "memory://"}}
filters:
  audit: {{enabled: true, instance_id: cli}}
"""


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    cfg_path = tmp_path / "gw.yaml"
    cfg_path.write_text(CONFIG.format(state=tmp_path / "state"))
    cfg = load_config(cfg_path)

    async def fill() -> None:
        w = open_audit(cfg.filters.audit, tmp_path / "state")
        for i, (consumer, subj) in enumerate([("acme", "42"), ("acme", "42"), ("broker", "7"), ("acme", "7")]):
            lk = w.lookup(subj)
            pos = await w.begin(["b", time.time() - 100 + i, f"r{i}", "GET", "/v1/customers/{id}", "c", [["id", lk]], [lk],
                                 consumer, "api_key", "service_provider", "10.0.0.1", True])
            ann = {"pii": {"categories": {"identifiers": 1}, "entities": {}, "spi": 0, "actions": {}}}
            await w.complete(["c", pos, time.time(), 200, "served", None, [], ann, None, 0, 10, 1.0])
        await w.aclose()

    asyncio.run(fill())
    return cfg_path


def test_search_verify_dsar_shred_purge(trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(trail)
    assert main(["audit", "search", "-c", c, "--subject", "42", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    # the subject id never appears as a path segment (a random pseudonym may contain the digits)
    assert [e["id"] for e in found] == ["r1", "r0"] and all("42" not in e["path"].split("/") for e in found)
    assert main(["audit", "search", "-c", c, "--consumer", "broker"]) == 0
    assert "broker" in capsys.readouterr().out

    assert main(["audit", "verify", "-c", c]) == 0
    assert "verified: 1 instance(s), 4 events" in capsys.readouterr().out

    html = tmp_path / "r.html"
    assert main(["dsar", "-c", c, "--subject", "7", "--since", "12mo", "--html", str(html)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert sorted(r["consumer"] for r in rep["recipients"]) == ["acme", "broker"] and rep["categories"] == {"identifiers": 2}
    assert "broker" in html.read_text()

    assert main(["audit", "shred", "-c", c, "--subject", "7"]) == 0
    capsys.readouterr()
    assert main(["dsar", "-c", c, "--subject", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0  # unlinkable now
    assert main(["audit", "verify", "-c", c]) == 0  # ...and the chain still verifies
    capsys.readouterr()

    assert main(["audit", "purge", "-c", c, "--older-than", "0s"]) == 0
    assert "purged 4 events" in capsys.readouterr().out
    assert main(["audit", "verify", "-c", c, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_verify_fails_on_tampering(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    db = sqlite3.connect(trail.parent / "state" / "audit.db")
    db.execute("DELETE FROM audit_events WHERE seq=2")
    db.commit()
    db.close()
    assert main(["audit", "verify", "-c", str(trail)]) == 1
    assert "deleted at 2" in capsys.readouterr().out


def test_parse_when() -> None:
    assert parse_when("12mo", now=1000.0 + 360 * 86400) == 1000.0
    assert parse_when("2026-01-01") == 1_767_225_600.0
    with pytest.raises(Exception):
        parse_when("soon")
