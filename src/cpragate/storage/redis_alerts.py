"""Alerts, blocks and detector windows on Redis, shared by every gateway instance (``storage.redis``).

Blocks: one hash (``<prefix>blocks``), field ``<kind>\\x00<subject>``, value the Block as
JSON. ``check`` is on the request path of both rate limiters, so it never waits on Redis
per request: each instance keeps a mirror of the hash and refreshes it at most every
``refresh`` seconds (one ``HGETALL``); ``put`` and ``lift`` write through and update the
mirror at once. A block set on one instance therefore reaches the others within
``refresh`` seconds. When Redis fails, the mirror keeps answering (blocks are a
response to detections, not an access control of their own) and the failure is logged;
the next refresh tries again. Expired and lifted entries are removed on refresh.

Alerts: a list (``<prefix>alerts``, newest first, trimmed to ``max_alerts``) of the
Alerts as JSON, and a hash (``<prefix>alerts:ack``) of acknowledgements by alert id.

Detector windows (storage/windows.py): ``<prefix>an:<key>`` counters (INCRBY) and
HyperLogLogs (PFADD/PFCOUNT) with a time to live, all of one sync in one pipeline.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cpragate.errors import StorageError
from cpragate.storage.alerts import Alert, Block, SubjectKind, active_block, select_alerts

if TYPE_CHECKING:
    from cpragate.storage.redis import RedisStore

__all__ = ["RedisAlerts", "RedisBlocks", "RedisWindowCounts", "alert_from_json", "block_from_json"]

log = logging.getLogger("cpragate.storage")


def block_from_json(d: dict[str, Any]) -> Block:
    return Block(
        subject_kind=d["subject_kind"],
        subject=str(d["subject"]),
        action=d["action"],
        reason=str(d["reason"]),
        created_at=float(d["created_at"]),
        expires_at=float(d["expires_at"]),
        alert_id=d.get("alert_id"),
        lifted_by=d.get("lifted_by"),
    )


def alert_from_json(d: dict[str, Any]) -> Alert:
    return Alert(
        id=str(d["id"]),
        detector=str(d["detector"]),
        severity=d["severity"],
        subject_kind=d["subject_kind"],
        subject=str(d["subject"]),
        summary=str(d["summary"]),
        created_at=float(d["created_at"]),
        evidence=dict(d.get("evidence") or {}),
        acknowledged_by=d.get("acknowledged_by"),
        acknowledged_at=d.get("acknowledged_at"),
    )


def _field(kind: str, subject: str) -> str:
    return f"{kind}\x00{subject}"


class RedisBlocks:
    """BlockStore on a Redis hash with a per-instance mirror (see the module doc)."""

    def __init__(self, store: RedisStore, refresh: float = 1.0) -> None:
        self._s = store
        self._key = store.prefix + "blocks"
        self.refresh = refresh
        self._mirror: dict[tuple[str, str], Block] = {}
        self._synced = -1e18

    async def _sync(self, force: bool = False) -> None:
        mono = time.monotonic()
        if not force and mono - self._synced < self.refresh:
            return
        self._synced = mono
        try:
            raw: dict[Any, Any] = await self._s.call(lambda r: r.hgetall(self._key))
        except StorageError as e:
            log.warning("blocks: Redis unavailable, answering from the last copy: %s", e.detail or e.title)
            return
        now = time.time()
        mirror: dict[tuple[str, str], Block] = {}
        stale: list[Any] = []
        for f, v in raw.items():
            try:
                b = block_from_json(json.loads(v))
            except (ValueError, KeyError, TypeError):
                stale.append(f)
                continue
            if b.active(now):
                mirror[(b.subject_kind, b.subject)] = b
            else:
                stale.append(f)
        self._mirror = mirror
        if stale:
            try:
                await self._s.call(lambda r: r.hdel(self._key, *stale))
            except StorageError:
                pass

    async def put(self, block: Block) -> None:
        data = json.dumps(block.to_json())
        await self._s.call(lambda r: r.hset(self._key, _field(block.subject_kind, block.subject), data))
        self._mirror[(block.subject_kind, block.subject)] = block

    async def check(self, subject_kind: SubjectKind, subject: str, now: float) -> Block | None:
        await self._sync()
        return active_block(self._mirror, subject_kind, subject, now)

    def check_now(self, subject_kind: SubjectKind, subject: str, now: float) -> tuple[bool, Block | None]:
        """``check`` without awaiting (the rate limiters' fast path): known while the mirror
        is fresh (``check`` would not sync it), else (False, None) and ``check`` is awaited."""
        if time.monotonic() - self._synced >= self.refresh:
            return False, None
        return True, active_block(self._mirror, subject_kind, subject, now)

    async def active(self, now: float) -> list[Block]:
        await self._sync(force=True)
        return [b for b in self._mirror.values() if b.active(now)]

    async def lift(self, subject_kind: SubjectKind, subject: str, by: str) -> bool:
        f = _field(subject_kind, subject)
        raw = await self._s.call(lambda r: r.hget(self._key, f))
        if raw is None:
            self._mirror.pop((subject_kind, subject), None)
            return False
        b = block_from_json(json.loads(raw))
        if not b.active(time.time()):
            self._mirror.pop((subject_kind, subject), None)
            return False
        lifted = replace(b, lifted_by=by)
        await self._s.call(lambda r: r.hset(self._key, f, json.dumps(lifted.to_json())))
        self._mirror.pop((subject_kind, subject), None)
        return True


class RedisAlerts:
    """AlertStore on a Redis list (newest first, bounded) and an acknowledgement hash."""

    def __init__(self, store: RedisStore, max_alerts: int = 10_000) -> None:
        self._s = store
        self._key = store.prefix + "alerts"
        self._ack = store.prefix + "alerts:ack"
        self.max_alerts = max_alerts

    async def add(self, alert: Alert) -> None:
        data = json.dumps(alert.to_json())

        async def go(r: Any) -> None:
            async with r.pipeline(transaction=False) as p:
                p.lpush(self._key, data)
                p.ltrim(self._key, 0, self.max_alerts - 1)
                await p.execute()

        await self._s.call(go)

    async def _all(self) -> list[Alert]:
        raw: list[Any] = await self._s.call(lambda r: r.lrange(self._key, 0, self.max_alerts - 1))
        acks: dict[Any, Any] = await self._s.call(lambda r: r.hgetall(self._ack))
        out: list[Alert] = []
        for v in raw:
            try:
                a = alert_from_json(json.loads(v))
            except (ValueError, KeyError, TypeError):
                continue
            ack = acks.get(a.id.encode()) or acks.get(a.id)
            if ack is not None:
                d = json.loads(ack)
                a = replace(a, acknowledged_by=d.get("by"), acknowledged_at=d.get("at"))
            out.append(a)
        return out

    async def list(
        self,
        since: float | None = None,
        limit: int = 100,
        detector: str | None = None,
        unacknowledged_only: bool = False,
    ) -> list[Alert]:
        return select_alerts(await self._all(), since, limit, detector, unacknowledged_only)

    async def get(self, alert_id: str) -> Alert | None:
        return next((a for a in await self._all() if a.id == alert_id), None)

    async def acknowledge(self, alert_id: str, by: str) -> bool:
        if await self.get(alert_id) is None:
            return False
        data = json.dumps({"by": by, "at": time.time()})
        await self._s.call(lambda r: r.hset(self._ack, alert_id, data))
        return True


class RedisWindowCounts:
    """WindowCounts on Redis: one pipeline per sync."""

    def __init__(self, store: RedisStore) -> None:
        self._s = store
        self._pre = store.prefix + "an:"

    async def add_counts(self, items: list[tuple[str, int, float]]) -> list[int]:
        if not items:
            return []

        async def go(r: Any) -> list[Any]:
            async with r.pipeline(transaction=False) as p:
                for key, amount, ttl in items:
                    p.incrby(self._pre + key, amount)
                    p.pexpire(self._pre + key, max(1, int(ttl * 1000)))
                res: list[Any] = await p.execute()
                return res

        res = await self._s.call(go)
        return [int(v) for v in res[0::2]]

    async def add_distinct(self, items: list[tuple[str, list[str], float]]) -> list[int]:
        if not items:
            return []

        async def go(r: Any) -> list[Any]:
            async with r.pipeline(transaction=False) as p:
                for key, members, ttl in items:
                    if members:
                        p.pfadd(self._pre + key, *members)
                    else:
                        p.exists(self._pre + key)
                    p.pexpire(self._pre + key, max(1, int(ttl * 1000)))
                    p.pfcount(self._pre + key)
                res: list[Any] = await p.execute()
                return res

        res = await self._s.call(go)
        return [int(v) for v in res[2::3]]

    async def claim(self, key: str, ttl: float) -> bool:
        ok = await self._s.call(lambda r: r.set(self._pre + "claim:" + key, b"1", nx=True, px=max(1, int(ttl * 1000))))
        return bool(ok)
