"""Alerts raised by the detectors, and the blocks/throttles they (or an admin) put in place.

The contract shared by ``filters/anomaly`` (which raises alerts and blocks), the rate
limit filters (which enforce blocks), and ``admin/`` (which lists, acknowledges and lifts
them). An Alert's evidence is a summary only (counts, windows, thresholds, key prefixes,
route names) and never raw personal data or credentials.

Backends: ``MemoryAlerts`` (one process) here; shared backends (Redis, PostgreSQL) follow
the same Protocols.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Alert", "AlertStore", "Block", "BlockStore", "MemoryAlerts", "MemoryBlocks", "active_block", "select_alerts"]

Severity = Literal["low", "medium", "high", "critical"]
SubjectKind = Literal["consumer", "ip"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One detection: who, what, how bad, and the evidence summary (no raw PI)."""

    id: str
    detector: str
    severity: Severity
    subject_kind: SubjectKind
    subject: str
    summary: str
    created_at: float
    evidence: dict[str, Any] = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "detector": self.detector,
            "severity": self.severity,
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "summary": self.summary,
            "created_at": self.created_at,
            "evidence": self.evidence,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
        }


@dataclass(frozen=True, slots=True)
class Block:
    """A consumer or client IP throttled or blocked until ``expires_at`` (wall-clock seconds)."""

    subject_kind: SubjectKind
    subject: str
    action: Literal["throttle", "block"]
    reason: str
    created_at: float
    expires_at: float
    alert_id: str | None = None
    lifted_by: str | None = None

    def active(self, now: float) -> bool:
        return self.lifted_by is None and now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "action": self.action,
            "reason": self.reason,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "alert_id": self.alert_id,
            "lifted_by": self.lifted_by,
        }


@runtime_checkable
class AlertStore(Protocol):
    async def add(self, alert: Alert) -> None: ...

    async def list(
        self,
        since: float | None = None,
        limit: int = 100,
        detector: str | None = None,
        unacknowledged_only: bool = False,
    ) -> list[Alert]:
        """Newest first."""
        ...

    async def get(self, alert_id: str) -> Alert | None: ...

    async def acknowledge(self, alert_id: str, by: str) -> bool:
        """Mark acknowledged; False if no such alert."""
        ...


@runtime_checkable
class BlockStore(Protocol):
    async def put(self, block: Block) -> None:
        """Add or replace the block on (subject_kind, subject)."""
        ...

    async def check(self, subject_kind: SubjectKind, subject: str, now: float) -> Block | None:
        """The active block on this subject, or None. On the hot path: must be cheap."""
        ...

    async def active(self, now: float) -> list[Block]: ...

    async def lift(self, subject_kind: SubjectKind, subject: str, by: str) -> bool:
        """Lift the block now; False if none was active."""
        ...


def select_alerts(
    newest_first: Iterable[Alert],
    since: float | None = None,
    limit: int = 100,
    detector: str | None = None,
    unacknowledged_only: bool = False,
) -> list[Alert]:
    """The AlertStore.list filter, shared by the backends (``newest_first`` in that order)."""
    out: list[Alert] = []
    for a in newest_first:
        if since is not None and a.created_at < since:
            break
        if detector is not None and a.detector != detector:
            continue
        if unacknowledged_only and a.acknowledged_by is not None:
            continue
        out.append(a)
        if len(out) >= limit:
            break
    return out


def active_block(
    blocks: dict[tuple[str, str], Block], subject_kind: SubjectKind, subject: str, now: float
) -> Block | None:
    """BlockStore.check over an in-process table (the memory store's, or the Redis store's
    mirror): the active block on the subject, evicting it from ``blocks`` once expired."""
    if not blocks:
        return None
    b = blocks.get((subject_kind, subject))
    if b is None:
        return None
    if not b.active(now):
        del blocks[(subject_kind, subject)]
        return None
    return b


class MemoryAlerts:
    """AlertStore in a bounded deque (oldest dropped beyond ``max_alerts``)."""

    def __init__(self, max_alerts: int = 10_000) -> None:
        self._alerts: deque[Alert] = deque(maxlen=max_alerts)
        self._by_id: dict[str, Alert] = {}

    async def add(self, alert: Alert) -> None:
        if len(self._alerts) == self._alerts.maxlen:
            self._by_id.pop(self._alerts[0].id, None)
        self._alerts.append(alert)
        self._by_id[alert.id] = alert

    async def list(
        self,
        since: float | None = None,
        limit: int = 100,
        detector: str | None = None,
        unacknowledged_only: bool = False,
    ) -> list[Alert]:
        current = (self._by_id.get(a.id, a) for a in reversed(self._alerts))
        return select_alerts(current, since, limit, detector, unacknowledged_only)

    async def get(self, alert_id: str) -> Alert | None:
        return self._by_id.get(alert_id)

    async def acknowledge(self, alert_id: str, by: str) -> bool:
        cur = self._by_id.get(alert_id)
        if cur is None:
            return False
        self._by_id[alert_id] = replace(cur, acknowledged_by=by, acknowledged_at=time.time())
        return True


class MemoryBlocks:
    """BlockStore in a dict keyed by (kind, subject), bounded.

    Attackers rotating client addresses leave one block each; an expired or lifted block
    is dropped when its subject is next checked and, for the rest, by a sweep on ``put``
    whenever the table has doubled since the last one (amortized O(1), so it holds at
    most about twice the active blocks). Past ``max_blocks`` active ones, the block that
    would expire first makes room for the new one."""

    def __init__(self, max_blocks: int = 100_000) -> None:
        self._blocks: dict[tuple[str, str], Block] = {}
        self.table = self._blocks
        """The table itself (never replaced): ``check_now`` is ``active_block`` over it, so
        while it is empty no subject has a block, and the rate limiters' compiled fast path
        skips the call (~1.3k instructions per request, two interpreted frames)."""
        self.max_blocks = max_blocks
        self._sweep_at = min(64, max_blocks)

    async def put(self, block: Block) -> None:
        k = (block.subject_kind, block.subject)
        blocks = self._blocks
        if k not in blocks and len(blocks) >= self._sweep_at:
            now = time.time()
            for old in [o for o, b in blocks.items() if not b.active(now)]:
                del blocks[old]
            if len(blocks) >= self.max_blocks:
                del blocks[min(blocks, key=lambda o: blocks[o].expires_at)]
            self._sweep_at = min(self.max_blocks, max(64, 2 * len(blocks)))
        blocks[k] = block

    async def check(self, subject_kind: SubjectKind, subject: str, now: float) -> Block | None:
        return active_block(self._blocks, subject_kind, subject, now)

    def check_now(self, subject_kind: SubjectKind, subject: str, now: float) -> tuple[bool, Block | None]:
        """``check`` without awaiting (the rate limiters' fast path): always known here."""
        return True, active_block(self._blocks, subject_kind, subject, now)

    async def active(self, now: float) -> list[Block]:
        return [b for b in self._blocks.values() if b.active(now)]

    async def lift(self, subject_kind: SubjectKind, subject: str, by: str) -> bool:
        b = self._blocks.get((subject_kind, subject))
        if b is None or not b.active(time.time()):
            return False
        self._blocks[(subject_kind, subject)] = replace(b, lifted_by=by)
        return True
