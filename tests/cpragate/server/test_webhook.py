"""Webhook signing, backoff, queueing and delivery (the transport is stubbed; tests/e2e/test_anomaly.py posts for real)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from types import SimpleNamespace
from typing import Any

import pytest

from cpragate.filters.anomaly.config import AnomalyConfig, WebhookConfig
from cpragate.server.webhook import WebhookAlerts, WebhookSender, attach_webhooks, sign, verify
from cpragate.storage.alerts import Alert, MemoryAlerts

SECRET = "0123456789abcdef-secret"


def alert(i: int = 1, severity: str = "high") -> Alert:
    return Alert(f"al-{i}", "scraping", severity, "consumer", "alice", "alice received 300 subjects", 1.0, {"n": 300})  # type: ignore[arg-type]


def wh(**kw: Any) -> WebhookConfig:
    return WebhookConfig.model_validate({"url": "http://127.0.0.1:9/hook?x=1", "secret": SECRET, **kw})


def test_signature_format_and_verification() -> None:
    body = b'{"a":1}'
    header = sign(SECRET.encode(), body, 1700000000)
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert verify(SECRET.encode(), header, body, now=1700000100)
    assert not verify(SECRET.encode(), header, body + b" ", now=1700000100)  # body changed
    assert not verify(b"another-secret-0000", header, body, now=1700000100)
    assert not verify(SECRET.encode(), header, body, now=1700000000 + 301)  # too old: a replay
    assert not verify(SECRET.encode(), "v1=abc", body)
    assert not verify(SECRET.encode(), "t=x,v1=abc", body)


def test_request_is_signed_json_with_the_alert_id() -> None:
    s = WebhookSender(wh())
    head, body = s.request(alert(7), now=1700000000)
    text = head.decode()
    assert text.startswith("POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert "X-Cpragate-Alert-Id: al-7" in text and f"Content-Length: {len(body)}" in text
    sig = next(line.split(": ", 1)[1] for line in text.split("\r\n") if line.startswith("X-Cpragate-Signature"))
    assert verify(SECRET.encode(), sig, body, now=1700000000)
    doc = json.loads(body)
    assert doc["type"] == "cpragate.alert" and doc["alert"]["id"] == "al-7" and doc["alert"]["evidence"] == {"n": 300}
    assert SECRET not in text + body.decode()


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    s = WebhookSender(wh(backoff=1.0, max_backoff=8.0), rng=random.Random(1))
    for attempt, base in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 8.0)]:
        d = s.delay(attempt)
        assert 0.5 * base <= d < 1.5 * base


def test_delivery_retries_until_2xx(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [OSError("refused"), 503, 200]
    sent: list[bytes] = []

    async def fake_post(self: WebhookSender, head: bytes, body: bytes) -> int:
        sent.append(head)
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    monkeypatch.setattr(WebhookSender, "_post", fake_post)

    async def go() -> WebhookSender:
        s = WebhookSender(wh(backoff=0.01, max_backoff=0.02))
        s.enqueue(alert())
        for _ in range(200):
            if s.delivered:
                break
            await asyncio.sleep(0.01)
        await s.aclose()
        return s

    s = asyncio.run(go())
    assert s.delivered == 1 and len(sent) == 3 and s.failed == 0


def test_delivery_gives_up_after_max_attempts(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def fake_post(self: WebhookSender, head: bytes, body: bytes) -> int:
        return 500

    monkeypatch.setattr(WebhookSender, "_post", fake_post)

    async def go() -> WebhookSender:
        s = WebhookSender(wh(backoff=0.001, max_backoff=0.001, max_attempts=3))
        s.enqueue(alert())
        for _ in range(200):
            if s.failed:
                break
            await asyncio.sleep(0.01)
        await s.aclose()
        return s

    with caplog.at_level(logging.WARNING, logger="cpragate.webhook"):
        s = asyncio.run(go())
    assert s.failed == 1 and s.delivered == 0
    assert any("dropped after 3 attempts" in r.getMessage() for r in caplog.records)
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_enqueue_never_waits_and_drops_the_oldest_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_post(self: WebhookSender, head: bytes, body: bytes) -> int:
        await asyncio.sleep(10)
        return 200

    monkeypatch.setattr(WebhookSender, "_post", slow_post)

    async def go() -> tuple[WebhookSender, float]:
        s = WebhookSender(wh(queue_size=3, timeout=60))
        t0 = time.perf_counter()
        for i in range(10):
            s.enqueue(alert(i))
        spent = time.perf_counter() - t0
        await asyncio.sleep(0)
        await s.aclose()
        return s, spent

    s, _spent = asyncio.run(go())
    assert s.dropped >= 6 and s.pending <= 3


def test_webhook_alerts_store_then_send_by_severity(monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[str] = []
    monkeypatch.setattr(WebhookSender, "enqueue", lambda self, a: queued.append(a.id))

    async def go() -> MemoryAlerts:
        inner = MemoryAlerts()
        w = WebhookAlerts(inner, [WebhookSender(wh(min_severity="high"))])
        await w.add(alert(1, "low"))
        await w.add(alert(2, "critical"))
        assert [a.id for a in await w.list()] == ["al-2", "al-1"]
        assert (await w.get("al-1")) is not None
        assert await w.acknowledge("al-1", "admin")
        return inner

    asyncio.run(go())
    assert queued == ["al-2"]


def test_attach_webhooks_only_when_detection_and_webhooks_are_on() -> None:
    st = SimpleNamespace(alerts=MemoryAlerts(), _more=[])
    assert attach_webhooks(st, None) is None
    assert attach_webhooks(st, AnomalyConfig()) is None
    on = AnomalyConfig.model_validate({"enabled": True, "webhooks": [{"url": "https://h.example/x", "secret": SECRET}]})
    w = attach_webhooks(st, on)
    assert w is not None and st.alerts is w and st._more == [w]
    assert attach_webhooks(st, on) is None  # not wrapped twice
