"""Detection end to end: a scraping run through a real gateway raises an alert, a local
webhook receiver gets it with a valid HMAC signature, the consumer is throttled, and an
admin (BlockStore.lift, and the admin API) lifts the throttle. With Redis, a throttle set
by one gateway instance is enforced by another."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cpragate.config import load_config_text
from cpragate.filters.authn.apikeys import generate_key, hash_key
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginRequest, OriginResponse
from cpragate.server.webhook import verify

from .conftest import REPO, Client, free_port, origin, run

pytestmark = pytest.mark.e2e

HOOK_SECRET = "e2e-hook-secret-" + uuid.uuid4().hex
ADMIN_KEY = "e2e-admin-key-" + uuid.uuid4().hex
SSN = "536-22-4187"  # fake, valid-looking (the pii filter masks it)


def api(req: OriginRequest) -> OriginResponse:
    path = req.request.path
    cid = path.rsplit("/", 1)[-1]
    body = {"id": int(cid) if cid.isdigit() else 0, "email": f"user{cid}@example.com", "ssn": SSN, "name": "Pat Doe"}
    return OriginResponse(200, [(b"content-type", b"application/json")], json.dumps(body).encode())


class Receiver:
    """The webhook receiver: records what it got; answers 503 to the first POST (a retry must follow)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[bytes, bytes], bytes]] = []
        self.calls = 0

    def __call__(self, req: OriginRequest) -> OriginResponse:
        self.calls += 1
        if self.calls == 1:
            return OriginResponse(503, [], b"busy")
        self.got.append((dict(req.request.headers), req.request.body or b""))
        return OriginResponse(204, [], b"")


def config(api_port: int, hook_port: int, key: str, prefix: str, redis: str | None = None, admin: bool = True) -> str:
    storage = f'{{url: "memory://", redis: "{redis}"}}' if redis else '{url: "memory://"}'
    admin_section = (
        '\nadmin: {bind: "127.0.0.1:0", keys: [{name: ops, role: admin, key: "${ADMIN_KEY}"}]}\n' if admin else ""
    )
    return f"""
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{api_port}", allow_plaintext: true}}}}
routes:
  - {{path: "/v1/customers/{{id}}", upstream: o, personal: true, name: getCustomer}}
storage: {storage}
filters:
  authn:
    consumers: [{{name: harvester, purpose: third_party}}]
    api_keys: {{keys: [{{consumer: harvester, prefix: {prefix}, hash: {hash_key(key.encode())}}}]}}
  authz: {{unruled_routes: allow_authenticated}}
  ratelimit:
    throttle: {{rate: 1, per: 60, burst: 2}}
  anomaly:
    enabled: true
    scraping: {{floor: 30, prior: 2, response: throttle, duration: 600}}
    exfiltration: {{enabled: false}}
    enumeration: {{enabled: false}}
    webhooks:
      - {{url: "http://127.0.0.1:{hook_port}/hooks/cpragate", secret: "${{HOOK_SECRET}}", backoff: 0.05, max_backoff: 0.2}}
{admin_section}"""


async def _admin(gw: Gateway, method: str, path: str) -> tuple[int, Any]:
    assert gw.admin is not None
    port = int(gw.admin.url.rstrip("/").rsplit(":", 1)[1])
    c = await Client.open(port)
    try:
        r = await c.request(method, path, {"authorization": f"Bearer {ADMIN_KEY}"})
    finally:
        await c.close()
    return r.status, json.loads(r.body) if r.body else None


def test_scraping_alert_webhook_throttle_and_lift() -> None:
    key, prefix = generate_key()
    receiver = Receiver()

    async def go() -> None:
        async with origin(api) as up, origin(receiver) as hook:
            cfg = load_config_text(
                config(up.port, hook.port, key, prefix), "anomaly.yaml",
                env={**os.environ, "HOOK_SECRET": HOOK_SECRET, "ADMIN_KEY": ADMIN_KEY},
            )  # fmt: skip
            stores = await open_default_stores(cfg)
            gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
            await gw.start()
            try:
                c = await Client.open(gw.bound_ports()[0])
                statuses = []
                for i in range(60):  # a harvest: a new customer each request
                    r = await c.request("GET", f"/v1/customers/{1000 + i * 7}", {"x-api-key": key})
                    statuses.append(r.status)
                    if r.status == 200:
                        masked = SSN not in r.body.decode()
                        assert masked, "the pii filter should have masked the SSN"
                await c.close()
                first_refusal = statuses.index(429)
                assert statuses[:first_refusal] == [200] * first_refusal and 30 <= first_refusal <= 40, statuses
                assert set(statuses[first_refusal:]) <= {200, 429} and statuses[-5:] == [429] * 5

                alerts = await stores.alerts.list()
                assert [a.detector for a in alerts] == ["scraping"]
                alert = alerts[0]
                assert (alert.subject_kind, alert.subject) == ("consumer", "harvester")

                for _ in range(200):  # the receiver said 503 first: the retry delivers it
                    if receiver.got:
                        break
                    await asyncio.sleep(0.05)
                assert receiver.calls >= 2 and len(receiver.got) == 1
                headers, body = receiver.got[0]
                sig = headers[b"x-cpragate-signature"].decode()
                assert verify(HOOK_SECRET.encode(), sig, body)
                assert not verify(b"not-the-secret-0123", sig, body)
                doc = json.loads(body)
                assert doc["alert"]["id"] == alert.id and doc["alert"]["detector"] == "scraping"
                assert headers[b"x-cpragate-alert-id"].decode() == alert.id
                # the evidence is a summary: no customer id, no email, no SSN
                text = body.decode()
                clean = SSN not in text and "@example.com" not in text and "1007" not in text
                assert clean, "the webhook body must hold no personal data"

                block = await stores.blocks.check("consumer", "harvester", time.time())
                assert block is not None and block.action == "throttle" and block.alert_id == alert.id

                # lifted through the admin API when it is configured (it names who lifted)
                if gw.admin is not None:
                    st, listed = await _admin(gw, "GET", "/api/blocks")
                    assert st == 200 and "harvester" in json.dumps(listed)
                    st, res = await _admin(gw, "DELETE", "/api/blocks/consumer/harvester")
                    assert st == 200 and res["lifted_by"] == "ops"
                else:  # pragma: no cover - the admin listener is part of the build
                    assert await stores.blocks.lift("consumer", "harvester", by="ops")
                c = await Client.open(gw.bound_ports()[0])
                ok = await c.request("GET", "/v1/customers/5", {"x-api-key": key})
                assert ok.status == 200

                # BlockStore.lift directly (what the admin API calls)
                from cpragate.storage.alerts import Block

                now = time.time()
                await stores.blocks.put(Block("consumer", "harvester", "block", "manual", now, now + 60))
                refused = await c.request("GET", "/v1/customers/6", {"x-api-key": key})
                assert refused.status == 403 and b"CPG-RATE-005" in refused.body
                assert await stores.blocks.lift("consumer", "harvester", by="ops")
                assert (await c.request("GET", "/v1/customers/6", {"x-api-key": key})).status == 200
                await c.close()
            finally:
                await gw.stop(drain_timeout=1)
                await stores.close()

    run(go())


def test_instances_sharing_redis_detect_together_and_enforce_each_others_throttle() -> None:
    """A harvest spread over two instances (round robin, each below the floor on its own)
    is detected through the shared windows; the throttle one instance sets, the other enforces."""
    from tests.contract.test_storage import redis_url

    redis = redis_url()
    key, prefix = generate_key()

    async def go() -> None:
        async with origin(api) as up, origin(Receiver()) as hook:
            env = {**os.environ, "HOOK_SECRET": HOOK_SECRET, "ADMIN_KEY": ADMIN_KEY}
            text = config(up.port, hook.port, key, prefix, redis=redis, admin=False).replace(
                "    enabled: true\n", "    enabled: true\n    sync_interval: 0.1\n", 1
            )
            gws: list[Gateway] = []
            all_stores = []
            try:
                for _ in range(2):
                    cfg = load_config_text(text, "a.yaml", env=env)
                    st = await open_default_stores(cfg)
                    all_stores.append(st)
                    gw = Gateway(cfg, asyncio.get_running_loop(), stores=st)
                    await gw.start()
                    gws.append(gw)
                clients = [await Client.open(g.bound_ports()[0]) for g in gws]
                sent = [0, 0]
                for i in range(58):  # at most 29 through each: under the floor of 30 for either alone
                    which = i % 2
                    r = await clients[which].request("GET", f"/v1/customers/{2000 + i * 3}", {"x-api-key": key})
                    sent[which] += 1
                    if r.status == 429:
                        break
                    await asyncio.sleep(0.02)  # ~ 25 requests a second: the 0.1 s syncs keep up
                alerts = await all_stores[1].alerts.list()  # one shared list
                assert [x.detector for x in alerts] == ["scraping"], (sent, alerts)
                assert max(sent) < 30
                await asyncio.sleep(1.1)  # the other instance re-reads the shared blocks at most once a second
                got = [(await clients[1].request("GET", f"/v1/customers/{9000 + i}", {"x-api-key": key})).status for i in range(4)]
                got += [(await clients[0].request("GET", f"/v1/customers/{9100 + i}", {"x-api-key": key})).status for i in range(2)]
                for c in clients:
                    await c.close()
                assert got.count(429) >= 3, got  # one shared throttle bucket (burst 2) across both
                assert await all_stores[0].blocks.lift("consumer", "harvester", by="ops")
            finally:
                for gw in gws:
                    await gw.stop(drain_timeout=1)
                for st in all_stores:
                    await st.close()

    run(go())


def test_the_demo_attack_script_raises_visible_alerts(tmp_path: Path) -> None:
    """examples/attack.sh against `cpragate demo`: three detectors fire, listed by the admin API."""
    for tool in ("curl", "shuf"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (scripts/test installs curl; shuf is coreutils)")
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", "cpragate", "demo", "--state-dir", str(tmp_path / "state"), "--port", str(port), "--duration", "90"],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "Stop with Ctrl-C" not in log.read_text():
            assert p.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        m = re.search(r"dashboard: http://127\.0\.0\.1:(\d+)/", log.read_text())
        assert m is not None, "the demo banner names the dashboard"
        env = {**os.environ, "CPRAGATE_DEMO_PORT": str(port), "CPRAGATE_DEMO_STATE": str(tmp_path / "state"),
               "CPRAGATE_DEMO_ADMIN_PORT": m.group(1)}  # fmt: skip
        out = subprocess.run(["bash", str(REPO / "examples" / "attack.sh")], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        listed = out.stdout.split("Alerts (admin API", 1)[1]
        for detector, subject in [("scraping", "consumer=support-app"), ("enumeration", "consumer=marketing-partner"),
                                  ("credentials", "ip=127.0.0.1")]:  # fmt: skip
            assert re.search(rf"{detector}\s+{re.escape(subject)}", listed), out.stdout
        assert "429" in out.stdout.split("2. enumeration")[0]  # the scraper was throttled
        text = log.read_text()
        assert text.count("cpragate.anomaly: alert ") >= 3
        assert not re.search(r"\b\d{3}-\d{2}-\d{4}\b", text)  # no SSN-shaped value in the log
    finally:
        p.terminate()
        assert p.wait(20) == 0
