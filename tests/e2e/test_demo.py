"""`cpragate demo` answers the curl commands it prints (run with bash and real curl)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.e2e


def test_demo_answers_its_printed_curl_commands(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is required (scripts/test installs it)")
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", "cpragate", "demo", "--state-dir", str(tmp_path / "state"), "--port", str(port), "--duration", "60"],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while "Stop with Ctrl-C" not in log.read_text():
            assert p.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        text = log.read_text().replace("\\\n", " ")
        commands = [line.strip().split("  #")[0] for line in text.splitlines() if line.strip().startswith("curl ")]
        assert len(commands) >= 6
        statuses = []
        for cmd in commands:
            out = subprocess.run(["bash", "-c", cmd + " -s -o /dev/null -w '%{http_code}'"], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, (cmd, out.stderr)
            statuses.append(int(out.stdout))
        # customer, list, order (support-app); another tenant's order (BOLA, 404), own order,
        # customers without the scope (BFLA, 403) (marketing-partner); no key (401);
        # admin (unrouted), traversal (refused), ticket with mTLS (partner-portal), create ticket
        assert statuses == [200, 200, 200, 404, 200, 403, 401, 404, 400, 200, 201], list(zip(commands, statuses))
        # access lines are written in batches, at most 0.1 s late (server/accesslog.py)
        deadline = time.monotonic() + 5
        while True:
            access = [line for line in log.read_text().splitlines() if "cpragate.access" in line]
            if len(access) >= len(commands) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(access) >= len(commands)
        assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[\d+\] cpragate\.access: \S+ 127\.0\.0\.1 [A-Z]+ \S+ \d{3} \d+\.\dms ", a) for a in access), access
        # the banner names the dashboard and its admin key; the dashboard and the admin API answer
        m = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)\s+\(sign in with the admin key (\S+)\)", text)
        assert m, text
        page = subprocess.run(["curl", "-s", m.group(1)], capture_output=True, text=True, timeout=30)
        assert "<title>cpragate" in page.stdout
        inv = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {m.group(2)}", m.group(1) + "api/inventory"],
                             capture_output=True, text=True, timeout=30)
        assert '"template":"/v1/customers/{id}"' in inv.stdout and '"state":"shadow"' in inv.stdout
        # the demo never logs personal data from bodies: no SSN-shaped strings in its log
        assert not re.search(r"\b\d{3}-\d{2}-\d{4}\b", log.read_text())
    finally:
        p.terminate()
        assert p.wait(20) == 0
    assert "stopped cleanly" in log.read_text()
