"""Baselines: findings a team has reviewed and accepted, so CI fails only on new ones.

The file is JSON, written by ``cpragate scan --write-baseline FILE`` and edited by hand
(add a ``reason``)::

    {"cpragate_scan_baseline": 1,
     "accepted": [{"fingerprint": "3f2a...", "check": "no-rate-limit",
                   "operation": "GET /v1/orders", "reason": "limited by the CDN"}]}

A finding's fingerprint hashes its check, operation and key -- never ids, values or
times -- so it is stable across runs and targets (staging, preview environments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from cpragate.errors import ScanBaselineError
from cpragate.scanner.model import Finding

__all__ = ["apply_baseline", "dump_baseline", "load_baseline"]

_MAGIC = "cpragate_scan_baseline"


def load_baseline(path: str | Path) -> set[str]:
    """The accepted fingerprints in ``path``."""
    try:
        doc: Any = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ScanBaselineError(f"cannot read baseline {path}: {exc.strerror}.") from None
    except orjson.JSONDecodeError as exc:
        raise ScanBaselineError(f"baseline {path} is not JSON ({exc}).") from None
    if not isinstance(doc, dict) or doc.get(_MAGIC) != 1 or not isinstance(doc.get("accepted"), list):
        raise ScanBaselineError(f"{path} is not a cpragate scan baseline (no `{_MAGIC}: 1` with an `accepted` list).")
    out: set[str] = set()
    for i, entry in enumerate(doc["accepted"]):
        fp = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(fp, str) or not fp:
            raise ScanBaselineError(f"{path}: accepted[{i}] has no `fingerprint` string.")
        out.add(fp)
    return out


def dump_baseline(findings: list[Finding], reason: str = "accepted when the baseline was written") -> bytes:
    entries = [
        {"fingerprint": f.fingerprint, "check": f.check, "operation": f.operation, "severity": f.severity.label, "reason": reason}
        for f in findings
    ]
    return orjson.dumps({_MAGIC: 1, "accepted": entries}, option=orjson.OPT_INDENT_2) + b"\n"


def apply_baseline(findings: list[Finding], accepted: set[str]) -> tuple[list[Finding], int]:
    """(findings not in the baseline, how many were suppressed)."""
    kept = [f for f in findings if f.fingerprint not in accepted]
    return kept, len(findings) - len(kept)
