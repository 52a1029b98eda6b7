"""The demo (API + gateway + admin listener) on its own event loop thread, for tests that
drive it from synchronous code (the browser test, plain HTTP clients)."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson

from cpragate.demo.api import DemoApi
from cpragate.demo.certs import ensure_dev_pki
from cpragate.demo.run import ADMIN_KEY, MARKETING_KEY, SUPPORT_KEY, api_ssl_context, demo_config
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginServer
from cpragate.server.serve import new_loop
from cpragate.storage.alerts import Alert, MemoryAlerts, MemoryBlocks

__all__ = ["ADMIN_KEY", "MARKETING_KEY", "SUPPORT_KEY", "DemoWorld"]


class DemoWorld:
    """Start with ``DemoWorld(state).start()``; ``stop()`` when done."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.loop = new_loop()  # uvloop, as in production
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-world", daemon=True)
        self.gw: Gateway | None = None
        self.api: OriginServer | None = None

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> DemoWorld:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        pki = ensure_dev_pki(self.state)
        self.api = await OriginServer(DemoApi(), ssl_context=api_ssl_context(pki)).start("127.0.0.1", 0)
        cfg = demo_config(self.state, "127.0.0.1:0", f"https://127.0.0.1:{self.api.port}", "127.0.0.1:0")
        stores = await open_default_stores(cfg)
        if getattr(stores, "alerts", None) is None:
            stores.alerts = MemoryAlerts()
        if getattr(stores, "blocks", None) is None:
            stores.blocks = MemoryBlocks()
        self.gw = Gateway(cfg, asyncio.get_running_loop(), stores=stores)
        await self.gw.start()

    def stop(self) -> None:
        async def _stop() -> None:
            if self.gw is not None:
                await self.gw.stop(drain_timeout=1)
            if self.api is not None:
                await self.api.close()

        try:
            self.call(_stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    # --- the gateway's side -----------------------------------------------------------
    @property
    def port(self) -> int:
        assert self.gw is not None
        return self.gw.bound_ports()[0]

    @property
    def admin_url(self) -> str:
        assert self.gw is not None and self.gw.admin is not None
        return self.gw.admin.url

    def get(self, path: str, key: str | None = SUPPORT_KEY, method: str = "GET", body: bytes | None = None) -> int:
        ctx = ssl.create_default_context(cafile=str(self.state / "ca.pem"))
        conn = http.client.HTTPSConnection("localhost", self.port, context=ctx, timeout=10)
        headers = {"x-api-key": key} if key else {}
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def traffic(self) -> dict[str, int]:
        """The demo's curl commands and a few probes; the status of each."""
        out = {}
        for path, key in [
            ("/v1/customers/42", SUPPORT_KEY),
            ("/v1/customers/43", SUPPORT_KEY),
            ("/v1/customers?limit=3", SUPPORT_KEY),
            ("/v1/customers/42/orders", SUPPORT_KEY),
            ("/v1/orders/10005", SUPPORT_KEY),
            ("/v1/orders/10005", MARKETING_KEY),
            ("/v1/customers/42", MARKETING_KEY),
            ("/v1/customers/42", None),
            ("/v1/admin", None),
            ("/v1/users/alice@example.com/export", MARKETING_KEY),
            ("/health", None),
        ]:
            out[f"{path} {'anon' if key is None else key[:12]}"] = self.get(path, key)
        out["POST /v1/tickets"] = self.get("/v1/tickets", SUPPORT_KEY, "POST", b'{"customer_id": 42, "body": "please write to jane.roe@example.com"}')
        return out

    def add_alert(self, alert_id: str = "alert-e2e-1", subject: str = "marketing-partner") -> None:
        assert self.gw is not None and self.gw.stores is not None
        alerts = self.gw.stores.alerts
        assert alerts is not None
        self.call(alerts.add(Alert(alert_id, "enumeration", "high", "consumer", subject,
                                   "walked 120 customer ids in 60 s", time.time() - 5,
                                   {"distinct_ids": 120, "window_s": 60, "route": "getCustomer"})))

    # --- the admin side ------------------------------------------------------------------
    def admin(self, path: str, key: str | None = ADMIN_KEY, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        assert self.gw is not None and self.gw.admin is not None
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin.port, timeout=10)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            conn.request(method, path, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def admin_json(self, path: str, key: str | None = ADMIN_KEY, method: str = "GET") -> Any:
        status, _, body = self.admin(path, key, method)
        assert status == 200, (status, body[:200])
        return orjson.loads(body)

    def wait_audited(self, n: int, timeout: float = 20) -> int:
        """Wait until the audit trail holds ``n`` events (shipped by the writer thread)."""
        deadline = time.monotonic() + timeout
        got = 0
        while time.monotonic() < deadline:
            got = self.admin_json("/api/audit?limit=1000")["count"]
            if got >= n:
                return got
            time.sleep(0.1)
        return got
