"""The audit trail over real sockets and processes: kill -9 under load, a sink outage
(a private PostgreSQL started here, never the shared one), a full spool, the demo's DSAR."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cpragate.config import load_config_text
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginRequest, OriginResponse
from cpragate.storage.audit_sink import SearchQuery, open_sink

from .conftest import Client, free_port, origin, run, start_cpragate, stop_proc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Upstream:
    """An origin that records the request id of every request it received."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, req: OriginRequest) -> OriginResponse:
        rid = dict(req.request.headers).get(b"x-request-id", b"").decode()
        self.seen.append(rid)
        return OriginResponse(200, [(b"content-type", b"application/json")], b'{"id": 42, "name": "x"}')


def config(upstream_port: int, state: Path, sink: str, bind: str = "127.0.0.1:0", audit_extra: str = "") -> str:
    return f"""
state_dir: "{state}"
listeners: [{{bind: "{bind}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{upstream_port}", allow_plaintext: true}}}}
routes:
  - {{path: "/v1/customers/{{id}}", upstream: o, personal: true, audit: {{subject_param: id}}}}
storage: {{url: "memory://"}}
filters:
  audit: {{enabled: true, instance_id: e2e, sink: "{sink}"{audit_extra}}}
"""


def all_events(sink_url: str) -> list[dict[str, Any]]:
    s = open_sink(sink_url)
    try:
        return [orjson.loads(b) for b in s.search(SearchQuery(limit=1_000_000, newest_first=False))]
    finally:
        s.close()


def assert_exactly_once(upstream_ids: list[str], events: list[dict[str, Any]]) -> None:
    per_id = Counter(e["id"] for e in events)
    dupes = [i for i, n in per_id.items() if n > 1]
    assert not dupes, f"duplicated events: {dupes[:5]} {[e for e in events if e['id'] in dupes][:3]}"
    missing = [i for i in upstream_ids if i not in per_id]
    assert not missing, f"{len(missing)} requests reached the upstream without an event: {missing[:5]}"


def test_kill9_under_load_then_restart_every_forwarded_request_has_one_event(tmp_path: Path) -> None:
    up = Upstream()
    sink = f"sqlite:///{tmp_path}/state/audit.db"

    async def t() -> None:
        async with origin(up) as o:
            port = free_port()
            cfg_path = tmp_path / "gw.yaml"
            cfg_path.write_text(config(o.port, tmp_path / "state", sink, f"127.0.0.1:{port}"))
            proc = start_cpragate(cfg_path, port, log=tmp_path / "gw1.log")
            stop = asyncio.Event()

            async def client(n: int) -> None:
                while not stop.is_set():
                    try:
                        c = await Client.open(port)
                        while not stop.is_set():
                            await c.request("GET", f"/v1/customers/{n}", timeout=5)
                    except (ConnectionError, TimeoutError, OSError):
                        await asyncio.sleep(0.01)

            tasks = [asyncio.create_task(client(i)) for i in range(8)]
            await asyncio.sleep(1.5)
            assert len(up.seen) > 100
            os.kill(proc.proc.pid, signal.SIGKILL)  # under load: begins in flight, batches unshipped
            proc.proc.wait()
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            before_restart = len(up.seen)
            proc2 = start_cpragate(cfg_path, port, log=tmp_path / "gw2.log")
            c = await Client.open(port)
            assert (await c.request("GET", "/v1/customers/1")).status == 200
            await c.close()
            await asyncio.sleep(0.5)
            assert stop_proc(proc2) == 0
            assert len(up.seen) == before_restart + 1

    run(t())
    events = all_events(sink)
    logs = (tmp_path / "gw1.log").read_text() + (tmp_path / "gw2.log").read_text()
    assert "has no begin" not in logs, [x for x in logs.splitlines() if "no begin" in x][:5]
    assert_exactly_once(up.seen, events)
    assert {e["outcome"] for e in events} <= {"served", "interrupted", "aborted"}
    assert len({e["seq"] for e in events}) == len(events)
    r = subprocess.run([sys.executable, "-m", "cpragate", "audit", "verify", "-c", str(tmp_path / "gw.yaml")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


# --- a private PostgreSQL for the outage test ----------------------------------------------


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not found (postgresql is required when CI=true)")
        pytest.skip(f"{name} not found")
    return found[-1]


class PrivatePg:
    def __init__(self, root: Path) -> None:
        self.dir = root / "pgdata"
        self.port = free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.chmod(0o755)
        self.dir.mkdir()
        if self.as_pg:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run([*self.as_pg, _pg_bin("initdb"), "-D", str(self.dir), "-U", "postgres", "-A", "trust"],
                       check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run([*self.as_pg, _pg_bin("pg_ctl"), "-D", str(self.dir), "-w", "-l", str(self.dir / "log"),
                        "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run([*self.as_pg, _pg_bin("pg_ctl"), "-D", str(self.dir), "-w", "-m", "fast", "stop"],
                       check=False, capture_output=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePg]:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="cpragate-pg-"))  # pytest's tmp is 0700: postgres could not enter it
    try:
        pg = PrivatePg(root)
        pg.start()
        try:
            yield pg
        finally:
            pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_sink_outage_then_full_spool(private_pg: PrivatePg, tmp_path: Path) -> None:
    up = Upstream()
    statuses: Counter[int] = Counter()

    async def t() -> None:
        async with origin(up) as o:
            text = config(o.port, tmp_path / "state", private_pg.url,
                          audit_extra=", spool: {max_bytes: 262144, segment_bytes: 32768}")
            cfg = load_config_text(text, "gw.yaml")
            stores = await open_default_stores(cfg)
            gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
            await gw.start()
            writer: Any = stores.audit
            c = await Client.open(gw.bound_ports()[0])
            try:
                for i in range(50):
                    statuses[(await c.request("GET", f"/v1/customers/{i}")).status] += 1
                private_pg.stop()  # the sink goes away under traffic
                for i in range(300):
                    statuses[(await c.request("GET", f"/v1/customers/{i}")).status] += 1
                assert statuses == Counter({200: 350})  # clients never saw the outage
                refused = None
                for i in range(5000):  # ...until the spool is full: 503, never a silent drop
                    r = await c.request("GET", f"/v1/customers/{i}")
                    statuses[r.status] += 1
                    if r.status == 503:
                        refused = r
                        break
                assert refused is not None and b"CPG-AUD-005" in refused.body
                forwarded = len(up.seen)
                assert (await c.request("GET", "/v1/customers/1")).status == 503
                assert len(up.seen) == forwarded  # nothing is forwarded that cannot be audited
                private_pg.start()  # the sink returns: the spool drains
                deadline = time.monotonic() + 30
                while writer.stats["shipped"] < forwarded and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                # Drained: the spool frees its segments after the batch commits, so admission
                # returns within a ship cycle or two (polled: this machine may be loaded).
                while True:
                    r = await c.request("GET", "/v1/customers/9")
                    if r.status == 200 or time.monotonic() > deadline + 15:
                        break
                    await asyncio.sleep(0.2)
                assert r.status == 200, f"still refused after the sink returned: shipped {writer.stats['shipped']} of {forwarded}"
            finally:
                await c.close()
                await gw.stop(drain_timeout=1)

    run(t())
    events = all_events(private_pg.url)
    assert_exactly_once(up.seen, events)
    served = [e for e in events if e["outcome"] == "served"]
    assert len(served) == len(up.seen)
    assert any(e["error"] == "CPG-AUD-005" for e in events)


def test_demo_dsar_lists_what_was_served(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is required (scripts/test installs it)")
    port = free_port()
    state = tmp_path / "state"
    log = tmp_path / "demo.log"
    with log.open("wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", "cpragate", "demo", "--state-dir", str(state), "--port", str(port), "--duration", "60"],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while "Stop with Ctrl-C" not in log.read_text():
            assert p.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        base = f"https://localhost:{port}"
        from cpragate.demo.run import SUPPORT_KEY  # the demo's support-app (tenant t1: customers 42, 45)

        for path in ("/v1/customers/42", "/v1/customers/42", "/v1/customers/45", "/v1/admin"):
            subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", str(state / "ca.pem"), "-H", f"x-api-key: {SUPPORT_KEY}",
                            base + path], check=True, timeout=30)
    finally:
        p.terminate()
        assert p.wait(20) == 0
    env = {**os.environ, "CPRAGATE_DEMO_STATE": str(state)}
    r = subprocess.run([sys.executable, "-m", "cpragate", "dsar", "--subject", "42", "--html", str(tmp_path / "r.html")],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = orjson.loads(r.stdout)
    assert rep["disclosures"] == 2 and [x["consumer"] for x in rep["recipients"]] == ["support-app"]
    cats = rep["categories"]
    assert cats and "identifiers" in cats, cats
    assert "42" not in "".join(rep["recipients"][0]["routes"])
    assert (tmp_path / "r.html").read_text().count("<tr>") == 2
    r7 = orjson.loads(subprocess.run([sys.executable, "-m", "cpragate", "dsar", "--subject", "45"], capture_output=True,
                                     text=True, cwd=tmp_path, env=env, timeout=60).stdout)
    assert r7["disclosures"] == 1
    v = subprocess.run([sys.executable, "-m", "cpragate", "audit", "verify"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert v.returncode == 0, v.stdout + v.stderr
