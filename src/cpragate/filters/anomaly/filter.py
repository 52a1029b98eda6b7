"""Detection of scraping, enumeration, credential stuffing, exfiltration and unusual
access; personal-data budgets; alerts and automatic responses.

Theory of operation:

1. ``complete_now``/``on_complete`` (complete phase, after audit: ``complete_priority``
   8) feed every exchange — refused ones included, so authentication failures are seen —
   to the detectors (detectors.Engine). The detectors and budgets counted in this process
   run synchronously; only an alert to record, shared budget counters or a shared-window
   sync make the pipeline await ``on_complete``, which takes over what ``complete_now``
   did. It never touches the response and never raises to the client: a store failure is
   logged and detection goes on.
2. A finding becomes an ``Alert`` (storage/alerts.py): logged at WARNING (counts and
   route names only, no personal data), added to ``stores.alerts`` (the dashboard reads
   it; a webhook wrapper installed by the server signs and POSTs it without blocking),
   and, when the detector's ``response`` is throttle or block, a ``Block`` for
   ``duration`` seconds is put in ``stores.blocks``; the rate limit filters enforce it
   (ratelimit_ip for client IPs, ratelimit for consumers) until it expires or an admin
   lifts it.
3. Budgets (budgets.py) are counted in ``on_complete`` from the pii filter's counts and
   enforced in ``on_request`` (priority 700, after authentication and the rate limiter):
   an exhausted budget answers 429 ``CPG-RATE-004`` with ``Retry-After`` and the
   budget's ``RateLimit-Policy``. With a shared counter store (``storage.redis``) the
   budget counts are shared by every instance. A reload hands the learned baselines (and
   budget counts, when the budgets are unchanged) to the new filter (``Stores.carry``).
4. Shared windows (``shared: auto`` with ``storage.redis``): every ``sync_interval`` one
   completing exchange pushes what this instance counted and reads back the totals of
   every instance (storage/windows.py); a sync failure is logged and counting goes on
   locally.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from cpragate.core.clock import readers
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.ids import CounterIds
from cpragate.core.verdict import Verdict
from cpragate.errors import StorageError
from cpragate.filters.anomaly.budgets import BudgetBook, BudgetGate
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.detectors import DetectNow, Engine, Finding
from cpragate.storage.alerts import Alert, Block
from cpragate.storage.windows import WindowCounts

__all__ = ["AnomalyFilter"]

log = logging.getLogger("cpragate.anomaly")


class AnomalyFilter(Filter):
    """Streaming detectors and personal-data budgets (see the module doc)."""

    name = "anomaly"
    priority = 700
    complete_priority: ClassVar[int | None] = 8
    Config: ClassVar[type[FilterConfig]] = AnomalyConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        if not isinstance(config, AnomalyConfig):
            raise TypeError("AnomalyFilter needs an AnomalyConfig")
        self.cfg = config
        self.engine = Engine(config)
        self.book = BudgetBook(config.budgets, config.max_subjects)
        carry = getattr(ctx.stores, "carry", None)
        if isinstance(carry, dict):
            old = carry.get(self.name)
            if isinstance(old, AnomalyFilter):  # a reload: keep what the previous config learned
                if self.engine.adopt(old.engine):
                    log.info("anomaly: baselines carried over from the previous configuration")
                if old.cfg.budgets == config.budgets:
                    self.book = old.book
            carry[self.name] = self
        self.gate = BudgetGate(self.book, readers(ctx.clock)[0])
        # The pipeline calls the native method directly (budgets.py): no Python frame.
        self.request_now = self.gate.request_now  # type: ignore[method-assign]
        self.alerts = getattr(ctx.stores, "alerts", None)
        self.blocks = getattr(ctx.stores, "blocks", None)
        self.counters = getattr(ctx.stores, "counters", None) if getattr(ctx.stores, "shared", False) else None
        """The shared counter store (Redis) for budgets, or None to count in this process."""
        self.ids = CounterIds("al-" + CounterIds().next_id().split("-")[0])
        self._time, self._mono = readers(ctx.clock)
        windows = getattr(ctx.stores, "windows", None)
        self.windows: WindowCounts | None = windows if config.shared == "auto" and isinstance(windows, WindowCounts) else None
        self.engine.shared = self.windows is not None
        self._now = DetectNow(
            self.engine, self.book, self._time, self._mono,
            self._count_budgets_local if self.counters is None else None, self.windows is not None,
        )  # fmt: skip
        # The pipeline calls the compiled method directly (detectors.py): no Python frame.
        self.complete_now = self._now.complete_now  # type: ignore[method-assign]
        self.raised = 0
        """Alerts raised by this instance (for tests and the replay)."""

    # ------------------------------------------------------------------ request: budgets

    def request_now(self, exchange: Exchange) -> Verdict:
        """Never awaits: the whole phase runs synchronously (bound to budgets.BudgetGate in __init__)."""
        return self.gate.request_now(exchange)

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self.gate.request_now(exchange)

    # ------------------------------------------------------------------ complete: detect

    def complete_now(self, exchange: Exchange) -> bool:
        """The detectors (and budgets counted in this process) synchronously: True when
        that was all. False when something must be awaited (an alert to record, shared
        budget counters, a shared-window sync): what was done is handed to ``on_complete``,
        which the pipeline awaits next for this same exchange, so nothing is observed twice.
        Bound to detectors.DetectNow in __init__."""
        return self._now.complete_now(exchange)

    async def on_complete(self, exchange: Exchange) -> None:
        pending = self._now.pending
        if pending is not None and pending[0] is exchange:  # complete_now observed it already
            self._now.pending = None
            _, now, found, plan = pending
        else:
            self._now.pending = None
            now = self._time()
            found = self.engine.observe(exchange, now)
            plan = self._now.budget_plan(exchange)
        if plan:  # no coroutine for a consumer no budget binds
            await self._count_budgets(exchange, plan, now)
        if found:
            for f in found:
                await self.raise_alert(f, now)
        if self.windows is not None and not self._now.syncing and self._mono() >= self._now.next_sync:
            await self.sync()

    async def sync(self) -> None:
        """Push what this instance counted since the last sync; read back the shared totals."""
        assert self.windows is not None
        self._now.syncing = True  # one sync at a time; exchanges completing meanwhile keep counting
        self._now.next_sync = self._mono() + self.cfg.sync_interval
        counts, distinct = self.engine.take_dirty()
        try:
            if counts:
                totals = await self.windows.add_counts([(k, n, 2 * w + 5) for k, _, _, w, n in counts])
                for (_, r, start, _, n), total in zip(counts, totals, strict=True):
                    r.synced(start, n, total)
            if distinct:
                found = await self.windows.add_distinct([(k, m, 2 * w + 5) for k, _, _, w, m in distinct])
                for (_, r, start, _, m), total in zip(distinct, found, strict=True):
                    r.synced(start, min(len(m), r.pending), total)
        except StorageError as e:
            log.warning("shared detector windows unavailable, counting in this instance: %s", e.detail or e.title)
        finally:
            self._now.syncing = False

    def _budget_finding(self, i: int, consumer: str, total: int) -> Finding:
        b = self.book.budgets[i]
        return Finding(
            "budget", "consumer", consumer,
            f"{consumer} used its budget of {b.limit} {b.category} values per {b.per:g} s",
            "medium", "none", 0.0,
            {"category": b.category, "limit": b.limit, "window_s": b.per, "count": total},
        )  # fmt: skip

    def _count_budgets_local(self, ex: Exchange, plan: tuple[int, ...], now: float) -> list[Finding] | None:
        """Budgets counted in this process (no shared counter store): the findings of the
        budgets this exchange used up (None: none)."""
        ident = ex.identity
        pii = ex.pii
        assert ident is not None and pii is not None
        book = self.book
        out: list[Finding] | None = None
        for i in plan:
            b = book.budgets[i]
            n = pii.spi if b.category == "spi" else pii.categories.get(b.category, 0)
            if not n:
                continue
            total = book.add_local(ident.consumer, i, n, now)
            if book.settle(ident.consumer, i, total, now):
                f = self._budget_finding(i, ident.consumer, total)
                out = [f] if out is None else [*out, f]
        return out

    async def _count_budgets(self, ex: Exchange, plan: tuple[int, ...], now: float) -> None:
        ident = ex.identity
        pii = ex.pii
        assert ident is not None and pii is not None
        book = self.book
        for i in plan:
            b = book.budgets[i]
            n = pii.spi if b.category == "spi" else pii.categories.get(b.category, 0)
            if not n:
                continue
            total = -1
            if self.counters is not None:
                start = book.window(i, now)
                try:
                    total = await self.counters.incr(f"pdb:{i}:{ident.consumer}:{start:.0f}", n, ttl=b.per + 60)
                except StorageError as e:
                    log.warning("budget counters unavailable, counting in this process: %s", e.detail or e.title)
            if total < 0:
                total = book.add_local(ident.consumer, i, n, now)
            if book.settle(ident.consumer, i, total, now):
                await self.raise_alert(self._budget_finding(i, ident.consumer, total), now)

    async def raise_alert(self, f: Finding, now: float) -> Alert | None:
        """Record, log and act on one finding (None: another instance already reported it)."""
        if self.windows is not None and f.cooldown > 0:
            try:
                first = await self.windows.claim(f"{f.detector}:{f.subject_kind}:{f.subject}", f.cooldown)
            except StorageError:
                first = True
            if not first:
                return None
        alert = Alert(
            id=self.ids.next_id(),
            detector=f.detector,
            severity=f.severity,  # type: ignore[arg-type]
            subject_kind=f.subject_kind,  # type: ignore[arg-type]
            subject=f.subject,
            summary=f.summary,
            created_at=now,
            evidence=dict(f.evidence),
        )
        self.raised += 1
        action = f.response if f.response in ("throttle", "block") else None
        log.warning(
            "alert %s detector=%s severity=%s %s=%s response=%s: %s",
            alert.id, f.detector, f.severity, f.subject_kind, f.subject, action or "none", f.summary,
        )  # fmt: skip
        if self.alerts is not None:
            try:
                await self.alerts.add(alert)
            except StorageError as e:
                log.error("alert %s could not be stored: %s", alert.id, e.detail or e.title)
        if action is not None and self.blocks is not None:
            block = Block(
                subject_kind=alert.subject_kind,
                subject=f.subject,
                action=action,  # type: ignore[arg-type]
                reason=f"{f.detector}: {f.summary}",
                created_at=now,
                expires_at=now + f.duration,
                alert_id=alert.id,
            )
            try:
                await self.blocks.put(block)
            except StorageError as e:
                log.error("%s of %s %s could not be stored: %s", action, f.subject_kind, f.subject, e.detail or e.title)
        return alert
