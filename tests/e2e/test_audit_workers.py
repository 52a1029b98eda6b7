"""Several gateway processes write one PostgreSQL audit sink, each with its own chain."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest

from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, free_port, origin, run, start_cpragate, stop_proc

pytestmark = pytest.mark.e2e

PG = "postgresql://postgres@127.0.0.1:5432/test"


def handler(req: OriginRequest) -> OriginResponse:
    return OriginResponse(200, [(b"content-type", b"application/json")], orjson.dumps({"id": 1, "name": "x"}))


def config(port: int, up: int, state: Path, prefix: str, instance: str, keys: Path) -> str:
    return f"""
state_dir: "{state}"
listeners: [{{bind: "127.0.0.1:{port}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{up}", allow_plaintext: true}}}}
routes:
  - {{path: "/v1/customers/{{id}}", upstream: o, personal: true, audit: {{subject_param: id}}}}
storage: {{url: "memory://"}}
filters:
  audit:
    enabled: true
    sink: "{PG}"
    table_prefix: "{prefix}"
    instance_id: "{instance}"
    # gateways sharing a sink share the keys (from files, as a deployment would)
    signing_key: "file:{keys / 'signing.hex'}"
    pseudonym_key: "file:{keys / 'pseudonym.hex'}"
"""


def test_two_gateways_with_two_workers_each_share_postgres_with_independent_chains(tmp_path: Path) -> None:
    prefix = "e2e_workers_" + secrets.token_hex(4)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "signing.hex").write_text(secrets.token_hex(32) + "\n")
    (keys / "pseudonym.hex").write_text(secrets.token_hex(32) + "\n")

    async def t() -> None:
        async with origin(handler) as o:
            procs = []
            for name in ("gw-a", "gw-b"):
                port = free_port()
                cfg = tmp_path / f"{name}.yaml"
                cfg.write_text(config(port, o.port, tmp_path / name, prefix, name, keys))
                procs.append(start_cpragate(cfg, port, "--workers", "2", log=tmp_path / f"{name}.log"))
            try:
                sent = 0
                for i in range(160):
                    p = procs[i % 2]
                    c = await Client.open(p.port)  # new connections spread over both workers
                    r = await c.request("GET", f"/v1/customers/{i % 7}")
                    assert r.status == 200
                    await c.close()
                    sent += 1
            finally:
                for p in procs:
                    assert stop_proc(p) == 0, p.text()[-2000:]
            assert len(o.requests) == sent

    try:
        run(t())
        out = subprocess.run(
            [sys.executable, "-m", "cpragate", "audit", "verify", "--sink", PG, "-c", str(tmp_path / "gw-a.yaml"), "--format", "json"],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        report = json.loads(out.stdout)
        text = json.dumps(report)
        assert "gw-a" in text and "gw-b" in text, text[:2000]
        with psycopg.connect(PG) as db:
            rows = db.execute(f"SELECT instance_id, count(*) FROM {prefix}_events GROUP BY instance_id").fetchall()
        instances = {r[0]: r[1] for r in rows}
        # two processes x two workers: four independent chains, one event per request
        assert len(instances) == 4, instances
        assert {i.split("/")[0].split("-w")[0][:4] for i in instances} == {"gw-a", "gw-b"}, instances
        assert sum(instances.values()) == 160
    finally:
        with psycopg.connect(PG, autocommit=True) as db:
            for (t_name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)
            ).fetchall():
                db.execute(f'DROP TABLE IF EXISTS "{t_name}" CASCADE')
