"""Dependency audit: pip-audit over the installed environment, PyPI's vulnerability data.

Exit 1 when a dependency has a known vulnerability. When the data source cannot be
reached (offline CI, a registry mirror that does not serve PyPI's JSON API), pip-audit
audits nothing: this prints a clear notice naming how many packages went unaudited and
exits 0, unless CPRAGATE_REQUIRE_DEP_AUDIT=1 (then the run fails). docs/security.md says
the same.

    .venv/bin/python scripts/dep_audit.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    exe = shutil.which("pip-audit", path=str(ROOT / ".venv" / "bin")) or shutil.which("pip-audit")
    strict = os.environ.get("CPRAGATE_REQUIRE_DEP_AUDIT") == "1"
    if exe is None:
        print("dependency audit: pip-audit is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    try:
        r = subprocess.run(
            [exe, "--format", "json", "--skip-editable", "--progress-spinner", "off", "--timeout", "20"],
            capture_output=True, text=True, timeout=600, check=False,
        )
    except subprocess.TimeoutExpired:
        return _unreachable("pip-audit timed out", strict)
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        return _unreachable(f"pip-audit gave no report ({(r.stderr.strip().splitlines() or ['no output'])[-1]})", strict)
    deps = report.get("dependencies", [])
    vulnerable = [(d["name"], d["version"], v["id"], v.get("fix_versions", [])) for d in deps for v in d.get("vulns", [])]
    audited = [d for d in deps if "skip_reason" not in d]
    for name, version, vid, fixes in vulnerable:
        print(f"VULNERABLE {name} {version}: {vid} (fixed in {', '.join(fixes) or 'no release yet'})")
    if vulnerable:
        print(f"dependency audit: {len(vulnerable)} known vulnerabilities; upgrade the packages above", file=sys.stderr)
        return 1
    if not audited:
        return _unreachable(f"none of {len(deps)} packages could be checked (PyPI's vulnerability data not reachable)", strict)
    print(f"dependency audit: {len(audited)} packages checked, no known vulnerabilities ({len(deps) - len(audited)} not on PyPI)")
    return 0


def _unreachable(why: str, strict: bool) -> int:
    print(f"NOTICE dependency audit skipped: {why}. Run `scripts/dep_audit.py` where pypi.org is reachable.", file=sys.stderr)
    return 1 if strict else 0


if __name__ == "__main__":
    sys.exit(main())
