"""Alert webhooks: each alert POSTed as JSON, signed with HMAC-SHA256, retried, never in the way.

Rules:

* The request: ``POST <url>`` with ``Content-Type: application/json``, the body
  ``{"type": "cpragate.alert", "alert": {...}}`` (``Alert.to_json()``: detector, severity,
  subject, summary, evidence counts — never raw personal data), and
  ``X-Cpragate-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
  HMAC-SHA256(secret, ``<t>.<body>``). A receiver recomputes it over the raw body,
  compares in constant time and refuses a ``t`` older than a few minutes (replay).
  ``X-Cpragate-Alert-Id`` repeats the alert id so a receiver can drop duplicates: a
  retry after a lost answer delivers the same alert twice.
* Delivery never blocks traffic: ``enqueue`` only appends to a bounded queue (beyond
  ``queue_size`` the oldest waiting alert is dropped and logged); one background task
  per webhook sends them in order.
* A 2xx answer is success. Anything else (refused connection, timeout, 3xx/4xx/5xx) is
  retried up to ``max_attempts`` times, waiting ``backoff × 2^n`` (capped at
  ``max_backoff``) scaled by a random factor in [0.5, 1.5) (jitter), then dropped and
  logged. The secret is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import ssl
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from cpragate.filters.anomaly.config import AnomalyConfig, WebhookConfig
from cpragate.storage.alerts import Alert, AlertStore, MemoryAlerts

__all__ = ["SIGNATURE_HEADER", "WebhookAlerts", "WebhookSender", "attach_webhooks", "sign", "verify"]

log = logging.getLogger("cpragate.webhook")

SIGNATURE_HEADER = "X-Cpragate-Signature"
_SEVERITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def sign(secret: bytes, body: bytes, ts: int) -> str:
    """The ``X-Cpragate-Signature`` value for ``body`` sent at ``ts``."""
    mac = hmac.new(secret, b"%d." % ts + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float | None = None, tolerance: float = 300.0) -> bool:
    """Whether ``header`` is a valid signature of ``body`` no older than ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    want = hmac.new(secret, b"%d." % ts + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))


class WebhookSender:
    """One webhook's queue and delivery task (see the module doc)."""

    def __init__(self, cfg: WebhookConfig, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self._secret = cfg.secret.get_secret_value().encode("utf-8")
        u = urlsplit(cfg.url)
        self._https = u.scheme == "https"
        self._host = u.hostname or "localhost"
        self._port = u.port or (443 if self._https else 80)
        self._path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self._hostport = u.netloc
        self._queue: deque[Alert] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._ssl: ssl.SSLContext | None = None
        self.min_level = _SEVERITY[cfg.min_severity]
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def wants(self, alert: Alert) -> bool:
        return _SEVERITY.get(alert.severity, 3) >= self.min_level

    def enqueue(self, alert: Alert) -> None:
        """Queue ``alert`` for delivery; never waits (drops the oldest when full)."""
        if len(self._queue) >= self.cfg.queue_size:
            old = self._queue.popleft()
            self.dropped += 1
            log.error("webhook %s: queue full, alert %s dropped", self._hostport, old.id)
        self._queue.append(alert)
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            alert = self._queue.popleft()
            await self._deliver(alert)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based), with jitter."""
        base = min(self.cfg.max_backoff, self.cfg.backoff * float(2**attempt))
        return float(base * (0.5 + self._rng.random()))

    def request(self, alert: Alert, now: float | None = None) -> tuple[bytes, bytes]:
        """The signed request's head and body for ``alert``."""
        body = json.dumps({"type": "cpragate.alert", "alert": alert.to_json()}, separators=(",", ":")).encode()
        ts = int(time.time() if now is None else now)
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._hostport}\r\nUser-Agent: cpragate-webhook\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{SIGNATURE_HEADER}: {sign(self._secret, body, ts)}\r\nX-Cpragate-Alert-Id: {alert.id}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        return head, body

    async def _deliver(self, alert: Alert) -> bool:
        for attempt in range(self.cfg.max_attempts):
            head, body = self.request(alert)
            try:
                status = await asyncio.wait_for(self._post(head, body), self.cfg.timeout)
            except (OSError, TimeoutError, ValueError, ssl.SSLError) as e:
                status, why = 0, type(e).__name__
            else:
                why = f"HTTP {status}"
            if 200 <= status < 300:
                self.delivered += 1
                return True
            if attempt + 1 < self.cfg.max_attempts:
                wait = self.delay(attempt)
                log.warning("webhook %s: alert %s not delivered (%s); retry in %.1f s", self._hostport, alert.id, why, wait)
                await asyncio.sleep(wait)
            else:
                log.error("webhook %s: alert %s dropped after %d attempts (%s)", self._hostport, alert.id, attempt + 1, why)
        self.failed += 1
        return False

    async def _post(self, head: bytes, body: bytes) -> int:
        ctx: ssl.SSLContext | None = None
        if self._https:
            if self._ssl is None:
                self._ssl = ssl.create_default_context(cafile=self.cfg.ca_file)
            ctx = self._ssl
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=ctx)
        try:
            writer.write(head + body)
            await writer.drain()
            line = await reader.readline()
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise ValueError("not an HTTP response")
            return int(parts[1])
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue:
            log.warning("webhook %s: %d alerts not delivered at shutdown", self._hostport, len(self._queue))


class WebhookAlerts:
    """An AlertStore that also hands every new alert to the webhooks (never waiting on them)."""

    def __init__(self, inner: AlertStore, senders: list[WebhookSender]) -> None:
        self.inner = inner
        self.senders = senders

    async def add(self, alert: Alert) -> None:
        try:
            await self.inner.add(alert)
        finally:
            for s in self.senders:
                if s.wants(alert):
                    s.enqueue(alert)

    async def list(
        self,
        since: float | None = None,
        limit: int = 100,
        detector: str | None = None,
        unacknowledged_only: bool = False,
    ) -> list[Alert]:
        return await self.inner.list(since, limit, detector, unacknowledged_only)

    async def get(self, alert_id: str) -> Alert | None:
        return await self.inner.get(alert_id)

    async def acknowledge(self, alert_id: str, by: str) -> bool:
        return await self.inner.acknowledge(alert_id, by)

    async def aclose(self) -> None:
        for s in self.senders:
            await s.aclose()


def attach_webhooks(stores: Any, cfg: AnomalyConfig | None) -> WebhookAlerts | None:
    """Wrap ``stores.alerts`` so alerts also go to ``cfg.webhooks`` (when detection is on)."""
    if cfg is None or not cfg.enabled or not cfg.webhooks or isinstance(stores.alerts, WebhookAlerts):
        return None
    w = WebhookAlerts(stores.alerts if stores.alerts is not None else MemoryAlerts(), [WebhookSender(c) for c in cfg.webhooks])
    stores.alerts = w
    stores._more.append(w)
    return w
