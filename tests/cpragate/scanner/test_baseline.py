from __future__ import annotations

from pathlib import Path

import pytest

from cpragate.errors import ScanBaselineError
from cpragate.scanner.baseline import apply_baseline, dump_baseline, load_baseline
from cpragate.scanner.model import Finding, Severity


def _f(check: str, op: str = "GET /a") -> Finding:
    return Finding(check, "API4:2023", 770, Severity.MEDIUM, "t", op, "d", "f")


def test_roundtrip_suppresses_only_accepted(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_bytes(dump_baseline([_f("no-rate-limit")]))
    accepted = load_baseline(p)
    kept, suppressed = apply_baseline([_f("no-rate-limit"), _f("bola"), _f("no-rate-limit", "GET /b")], accepted)
    assert suppressed == 1 and [(f.check, f.operation) for f in kept] == [("bola", "GET /a"), ("no-rate-limit", "GET /b")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read baseline"),
        (b"{not json", "is not JSON"),
        (b'{"accepted": []}', "is not a cpragate scan baseline"),
        (b'{"cpragate_scan_baseline": 1, "accepted": [{"check": "x"}]}', "accepted[0] has no `fingerprint`"),
    ],
)
def test_bad_baselines_are_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "b.json"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ScanBaselineError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        load_baseline(p)
    assert "CPG-SCAN-003" in str(e.value)
