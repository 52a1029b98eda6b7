"""The streaming detectors: one pass over each completed exchange, O(1) work per signal.

Theory of operation: the engine keeps one small state object per consumer (or per client
IP for anonymous callers) and per client IP / API key prefix that failed to authenticate.
``observe`` reads the exchange once and feeds every signal (baseline.Rate); a signal over
its threshold yields a Finding, unless the same detector reported the same subject less
than ``cooldown`` seconds ago. Findings carry counts, thresholds, windows and route
names — never a data subject's id, a body value or a credential (a key's public prefix
at most).

| detector | subject | signal per window | alert when |
|---|---|---|---|
| scraping | consumer | distinct data subjects received (≤ per_response per response) | > max(floor, factor × baseline) |
| enumeration | consumer | refused (403/404) object requests; sequential id steps | refusals over threshold and ≥ failure_share of object requests; or steps over threshold |
| credentials | client IP; key prefix | authentication failures | over threshold (IP); ≥ key_floor (key) |
| exfiltration | consumer | PI records, SPI values, bytes on personal routes | any over its threshold |
| unusual | consumer | new route, new client network, off-hours | once habits are learned |

With shared windows (``storage.redis``), what each instance counts is pushed every
``sync_interval`` and the totals read back (``Rate.ext``), so the sliding counts — and the
baselines learned from them — cover every instance; distinct subjects go as hashes into
a HyperLogLog. The learned habits of ``unusual`` stay per instance.

State is bounded: at most ``max_subjects`` subjects (the least recently created is
forgotten first), ``max_distinct`` subjects per window, ``max_routes``/``max_networks``
per consumer.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from cpragate.core.exchange import Exchange
from cpragate.filters.anomaly.baseline import Population, Rate
from cpragate.filters.anomaly.budgets import BudgetBook
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.authn.apikeys import prefix_of

__all__ = ["DETECTORS", "Engine", "Finding", "Knobs", "Subject"]

DETECTORS: Final = ("scraping", "enumeration", "credentials", "exfiltration", "unusual", "budget")

_AUTH_FAILED: Final = "CPG-AUTH-001"
_PERSONAL_OK: Final = 400


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection, before it becomes an Alert (the filter adds id, time, delivery)."""

    detector: str
    subject_kind: str
    subject: str
    summary: str
    severity: str
    response: str
    duration: float
    evidence: dict[str, Any] = field(default_factory=dict)
    cooldown: float = 0.0
    """How long the same detector stays quiet about the same subject (shared instances claim it)."""


class Subject:
    """Per consumer (or anonymous client IP): every volume signal and the learned habits."""

    __slots__ = (
        "bytes",
        "first",
        "hours",
        "last_ids",
        "nets",
        "objreq",
        "records",
        "refused",
        "routes",
        "seen",
        "seq",
        "spi",
        "subj",
        "total",
    )

    def __init__(self, now: float) -> None:
        self.subj = Rate()
        self.seen: set[str] = set()
        self.refused = Rate()
        self.objreq = Rate()
        self.seq = Rate()
        self.last_ids: dict[str, int] = {}
        self.records = Rate()
        self.spi = Rate()
        self.bytes = Rate()
        self.first = now
        self.total = 0
        self.routes: set[str] = set()
        self.nets: set[str] = set()
        self.hours = [0] * 24


class Knobs:
    """One detector's settings as plain typed fields, read once from its config model.

    ``observe`` reads a dozen settings per exchange: a pydantic model's attribute is a
    Python look-up each time (and a generic one from compiled code), these are native
    fields. Fields a detector's model does not have keep their zero.
    """

    def __init__(self, c: Any) -> None:
        self.enabled: bool = bool(c.enabled)
        self.window: float = float(getattr(c, "window", 0.0))
        self.factor: float = float(getattr(c, "factor", 0.0))
        self.prior_weight: float = float(getattr(c, "prior_weight", 0.0))
        self.sigmas: float = float(getattr(c, "sigmas", 0.0))
        self.severity: str = c.severity
        self.response: str = c.response
        self.duration: float = float(c.duration)
        self.cooldown: float = float(c.cooldown)
        self.floor: int = int(getattr(c, "floor", 0))
        self.per_response: int = int(getattr(c, "per_response", 0))
        self.failure_share: float = float(getattr(c, "failure_share", 0.0))
        self.sequential_floor: int = int(getattr(c, "sequential_floor", 0))
        self.max_step: int = int(getattr(c, "max_step", 0))
        self.key_floor: int = int(getattr(c, "key_floor", 0))
        self.floor_records: int = int(getattr(c, "floor_records", 0))
        self.floor_spi: int = int(getattr(c, "floor_spi", 0))
        self.floor_bytes: int = int(getattr(c, "floor_bytes", 0))
        # unusual
        self.learn_for: float = float(getattr(c, "learn_for", 0.0))
        self.min_requests: int = int(getattr(c, "min_requests", 0))
        self.new_endpoint: bool = bool(getattr(c, "new_endpoint", False))
        self.new_network: bool = bool(getattr(c, "new_network", False))
        self.off_hours: bool = bool(getattr(c, "off_hours", False))
        self.off_hours_share: float = float(getattr(c, "off_hours_share", 0.0))
        self.utc_offset_hours: float = float(getattr(c, "utc_offset_hours", 0.0))
        self.ipv4_prefix: int = int(getattr(c, "ipv4_prefix", 32))
        self.ipv6_prefix: int = int(getattr(c, "ipv6_prefix", 128))
        self.max_routes: int = int(getattr(c, "max_routes", 0))
        self.max_networks: int = int(getattr(c, "max_networks", 0))


class Engine:
    """All detectors over one stream of exchanges (sans-IO; the caller passes the time)."""

    def __init__(self, cfg: AnomalyConfig) -> None:
        self.cfg = cfg
        self.sc = Knobs(cfg.scraping)
        self.en = Knobs(cfg.enumeration)
        self.cr = Knobs(cfg.credentials)
        self.ex = Knobs(cfg.exfiltration)
        self.un = Knobs(cfg.unusual)
        self.max_subjects = cfg.max_subjects
        self.max_distinct = cfg.max_distinct
        self.subjects: dict[tuple[str, str], Subject] = {}
        self.fail_ip: dict[str, Rate] = {}
        self.fail_key: dict[str, Rate] = {}
        self.last_alert: dict[tuple[str, str, str], float] = {}
        self.pop_subj = Population(cfg.scraping.prior)
        self.pop_refused = Population(cfg.enumeration.prior)
        self.pop_seq = Population(1.0)
        self.pop_records = Population(cfg.exfiltration.prior_records)
        self.pop_spi = Population(cfg.exfiltration.prior_spi)
        self.pop_bytes = Population(cfg.exfiltration.prior_bytes)
        self.pop_fail = Population(cfg.credentials.prior)
        self._nets: dict[str, str] = {}
        self._off = self.un.utc_offset_hours * 3600.0
        self.shared = False
        """Share windows with other instances (the filter syncs ``dirty`` through storage.windows)."""
        self.dirty: dict[str, tuple[Rate, float]] = {}
        """Shared windows: signal key -> (its Rate, its window length) with counts to push."""
        self.dirty_subjects: dict[str, tuple[Rate, float, list[str]]] = {}
        """Shared scraping windows: key -> (Rate, window, hashed subject ids to push)."""

    def _share(self, r: Rate, signal: str, kind: str, who: str, x: float, window: float) -> None:
        r.pending += x
        k = f"{signal}:{kind}:{who}"
        if k not in self.dirty:
            if len(self.dirty) >= self.max_subjects:
                return
            self.dirty[k] = (r, window)

    def _share_subjects(self, r: Rate, kind: str, who: str, fresh: list[str], window: float) -> None:
        k = f"subjects:{kind}:{who}"
        hit = self.dirty_subjects.get(k)
        if hit is None:
            if len(self.dirty_subjects) >= self.max_subjects:
                return
            hit = self.dirty_subjects[k] = (r, window, [])
        r.pending += len(fresh)
        members = hit[2]
        for s in fresh:
            if len(members) < 4096:
                members.append(hashlib.blake2b(s.encode("utf-8", "replace"), digest_size=12).hexdigest())

    def take_dirty(self) -> tuple[list[tuple[str, Rate, float, float, int]], list[tuple[str, Rate, float, float, list[str]]]]:
        """What to push: ``(key with window, rate, window start, window, amount)`` counts and
        ``(key, rate, start, window, members)`` distinct sets; resets the dirty sets."""
        counts = []
        for k, (r, w) in self.dirty.items():
            amount = int(r.pending)
            if amount > 0:
                counts.append((f"{k}:{r.start:.0f}", r, r.start, w, amount))
        distinct = []
        for k, (r, w, members) in self.dirty_subjects.items():
            if members:
                distinct.append((f"{k}:{r.start:.0f}", r, r.start, w, members))
        self.dirty = {}
        self.dirty_subjects = {}
        return counts, distinct

    # ------------------------------------------------------------------ helpers

    def adopt(self, old: Engine) -> bool:
        """Take over what ``old`` learned (a reload) when its windows are the same; True if taken."""
        if (
            self.sc.window != old.sc.window
            or self.en.window != old.en.window
            or self.cr.window != old.cr.window
            or self.ex.window != old.ex.window
        ):
            return False
        self.subjects, self.fail_ip, self.fail_key, self.last_alert = old.subjects, old.fail_ip, old.fail_key, old.last_alert
        self.pop_subj, self.pop_refused, self.pop_seq = old.pop_subj, old.pop_refused, old.pop_seq
        self.pop_records, self.pop_spi, self.pop_bytes, self.pop_fail = old.pop_records, old.pop_spi, old.pop_bytes, old.pop_fail
        return True

    def _bounded(self, d: dict[Any, Any]) -> None:
        if len(d) >= self.max_subjects:
            del d[next(iter(d))]

    def _cooled(self, det: str, kind: str, who: str, now: float, cooldown: float) -> bool:
        k = (det, kind, who)
        last = self.last_alert.get(k)
        if last is not None and now - last < cooldown:
            return False
        if len(self.last_alert) >= self.max_subjects:
            del self.last_alert[next(iter(self.last_alert))]
        self.last_alert[k] = now
        return True

    def network(self, ip: str) -> str:
        """The client network of ``ip`` (its /24 or /48 by default), memoized."""
        n = self._nets.get(ip)
        if n is None:
            parts = ip.split(".")
            if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
                v = (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])
                plen = self.un.ipv4_prefix
                v &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
                n = f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}/{plen}"
            else:
                try:
                    n = str(ipaddress.ip_network(f"{ip}/{self.un.ipv6_prefix}", strict=False))
                except ValueError:
                    n = "invalid"
            if len(self._nets) >= 65_536:
                self._nets.clear()
            self._nets[ip] = n
        return n

    # ------------------------------------------------------------------ observe

    def observe(self, ex: Exchange, now: float) -> list[Finding] | None:
        """Feed one completed exchange; the findings it raised (None: none)."""
        out: list[Finding] | None = None
        ident = ex.identity
        resp = ex.response
        status = resp.status if resp is not None else 0
        if ident is None:
            if ex.error_code == _AUTH_FAILED:
                return self._auth_failure(ex, now)
            route = ex.route
            if route is None or not route.personal or status >= _PERSONAL_OK:
                return None
            kind, who = "ip", ex.client_ip
        else:
            kind, who = "consumer", ident.consumer
        key = (kind, who)
        st = self.subjects.get(key)
        if st is None:
            self._bounded(self.subjects)
            st = self.subjects[key] = Subject(now)
        route = ex.route
        if route is None:
            return None
        st.total += 1
        if ident is not None and self.un.enabled:
            out = self._unusual(st, ex, who, route.name, now)
        params = ex.params
        if params and self.en.enabled:
            f = self._enumeration(st, kind, who, route.name, params, status, now)
            if f is not None:
                out = [f] if out is None else [*out, f]
        if route.personal and status < _PERSONAL_OK and resp is not None:
            subjects = ex.audit_subjects
            if subjects is None and params:
                v = next(iter(params.values()))
                subjects = [f"{route.name}\x00{v}"]
            n = len(subjects) if subjects else 0
            if self.sc.enabled and n:
                f = self._scraping(st, kind, who, subjects, now)  # type: ignore[arg-type]
                if f is not None:
                    out = [f] if out is None else [*out, f]
            if self.ex.enabled:
                pii = ex.pii
                records = n
                spi = 0
                if pii is not None:
                    for m in pii.entities.values():  # max() of them, as a native loop
                        if m > records:
                            records = m
                    spi = pii.spi
                f = self._exfiltration(st, kind, who, records, spi, ex.bytes_out, now)
                if f is not None:
                    out = [f] if out is None else [*out, f]
        return out

    # ------------------------------------------------------------------ detectors

    def _scraping(self, st: Subject, kind: str, who: str, subjects: list[str], now: float) -> Finding | None:
        c = self.sc
        w = c.window
        r = st.subj
        if now - r.start >= w or now < r.start:
            r.roll(now, w, self.pop_subj)
            st.seen.clear()
        seen = st.seen
        new = 0
        cap = self.max_distinct
        fresh: list[str] | None = [] if self.shared else None
        for s in subjects:
            if s not in seen:
                new += 1
                if len(seen) < cap:
                    seen.add(s)
                if fresh is not None:
                    fresh.append(s)
        if not new:
            return None
        if new > c.per_response:
            new = c.per_response
        est = r.add(now, w, new, self.pop_subj)
        if fresh:
            self._share_subjects(r, kind, who, fresh[: c.per_response], w)
        thr = r.limit(self.pop_subj.mean, c.prior_weight, c.factor, c.floor, c.sigmas)
        if est <= thr:
            return None
        r.alarmed = True
        if not self._cooled("scraping", kind, who, now, c.cooldown):
            return None
        return Finding(
            "scraping", kind, who,
            f"{who} received {est:.0f} distinct data subjects in {w:g} s (threshold {thr:.0f})",
            c.severity, c.response, c.duration,
            {"distinct_subjects": round(est), "threshold": round(thr), "window_s": w, "baseline_windows": r.n},
            c.cooldown,
        )  # fmt: skip

    def _enumeration(
        self, st: Subject, kind: str, who: str, route: str, params: dict[str, str], status: int, now: float
    ) -> Finding | None:
        c = self.en
        w = c.window
        obj = st.objreq.add(now, w, 1, None)
        if self.shared:
            self._share(st.objreq, "objreq", kind, who, 1, w)
        refused = status in (403, 404)
        reason = None
        if refused:
            est = st.refused.add(now, w, 1, self.pop_refused)
            if self.shared:
                self._share(st.refused, "refused", kind, who, 1, w)
            thr = st.refused.limit(self.pop_refused.mean, c.prior_weight, c.factor, c.floor, c.sigmas)
            if est > thr and est >= c.failure_share * obj:
                st.refused.alarmed = True
                reason = ("refused", est, thr)
        v = next(iter(params.values()))
        if v.isdigit() and len(v) < 19:
            i = int(v)
            last = st.last_ids.get(route)
            if last is None and len(st.last_ids) >= 64:
                st.last_ids.clear()
            st.last_ids[route] = i
            if last is not None and 0 < abs(i - last) <= c.max_step:
                est = st.seq.add(now, w, 1, self.pop_seq)
                if self.shared:
                    self._share(st.seq, "seq", kind, who, 1, w)
                thr = st.seq.limit(self.pop_seq.mean, c.prior_weight, c.factor, c.sequential_floor, c.sigmas)
                if est > thr and reason is None:
                    st.seq.alarmed = True
                    reason = ("sequential", est, thr)
        if reason is None or not self._cooled("enumeration", kind, who, now, c.cooldown):
            return None
        what, est, thr = reason
        share = st.refused.sliding(now, w) / obj if obj else 0.0
        text = (
            f"{who}: {est:.0f} refused (403/404) object requests in {w:g} s (threshold {thr:.0f}, {share:.0%} of object requests)"
            if what == "refused"
            else f"{who}: {est:.0f} sequential id steps in {w:g} s (threshold {thr:.0f})"
        )
        return Finding(
            "enumeration", kind, who, text, c.severity, c.response, c.duration,
            {"signal": what, "count": round(est), "threshold": round(thr), "window_s": w,
             "refused_share": round(share, 3), "route": route},
            c.cooldown,
        )  # fmt: skip

    def _auth_failure(self, ex: Exchange, now: float) -> list[Finding] | None:
        c = self.cr
        if not c.enabled:
            return None
        w = c.window
        out: list[Finding] | None = None
        ip = ex.client_ip
        r = self.fail_ip.get(ip)
        if r is None:
            self._bounded(self.fail_ip)
            r = self.fail_ip[ip] = Rate()
        est = r.add(now, w, 1, self.pop_fail)
        if self.shared:
            self._share(r, "fail", "ip", ip, 1, w)
        thr = r.limit(self.pop_fail.mean, c.prior_weight, c.factor, c.floor, c.sigmas)
        if est >= thr:
            r.alarmed = True
            if self._cooled("credentials", "ip", ip, now, c.cooldown):
                out = [
                    Finding(
                        "credentials", "ip", ip,
                        f"{est:.0f} authentication failures from {ip} in {w:g} s (threshold {thr:.0f})",
                        c.severity, c.response, c.duration,
                        {"signal": "per_ip", "failures": round(est), "threshold": round(thr), "window_s": w},
                        c.cooldown,
                    )
                ]  # fmt: skip
        key = ex.request.headers.get(b"x-api-key")
        prefix = prefix_of(key) if key is not None else None
        if prefix is not None:
            k = self.fail_key.get(prefix)
            if k is None:
                self._bounded(self.fail_key)
                k = self.fail_key[prefix] = Rate()
            est = k.add(now, w, 1, None)
            if self.shared:
                self._share(k, "fail", "key", prefix, 1, w)
            if est >= c.key_floor:
                k.alarmed = True
                if self._cooled("credentials", "key", prefix, now, c.cooldown):
                    f = Finding(
                        "credentials", "ip", ip,
                        f"{est:.0f} authentication failures against key {prefix} in {w:g} s (threshold {c.key_floor})",
                        c.severity, c.response, c.duration,
                        {"signal": "per_key", "key_prefix": prefix, "failures": round(est), "threshold": c.key_floor, "window_s": w},
                        c.cooldown,
                    )  # fmt: skip
                    out = [f] if out is None else [*out, f]
        return out

    def _exfiltration(
        self, st: Subject, kind: str, who: str, records: int, spi: int, nbytes: int, now: float
    ) -> Finding | None:
        c = self.ex
        w, pw, fac = c.window, c.prior_weight, c.factor
        hit: tuple[str, float, float] | None = None
        if records:
            est = st.records.add(now, w, records, self.pop_records)
            if self.shared:
                self._share(st.records, "records", kind, who, records, w)
            thr = st.records.limit(self.pop_records.mean, pw, fac, c.floor_records, c.sigmas)
            if est > thr:
                st.records.alarmed = True
                hit = ("records", est, thr)
        if spi:
            est = st.spi.add(now, w, spi, self.pop_spi)
            if self.shared:
                self._share(st.spi, "spi", kind, who, spi, w)
            thr = st.spi.limit(self.pop_spi.mean, pw, fac, c.floor_spi, c.sigmas)
            if est > thr and hit is None:
                st.spi.alarmed = True
                hit = ("spi", est, thr)
        if nbytes:
            est = st.bytes.add(now, w, nbytes, self.pop_bytes)
            if self.shared:
                self._share(st.bytes, "bytes", kind, who, nbytes, w)
            thr = st.bytes.limit(self.pop_bytes.mean, pw, fac, c.floor_bytes, c.sigmas)
            if est > thr and hit is None:
                st.bytes.alarmed = True
                hit = ("bytes", est, thr)
        if hit is None or not self._cooled("exfiltration", kind, who, now, c.cooldown):
            return None
        what, est, thr = hit
        return Finding(
            "exfiltration", kind, who,
            f"{who} received {est:.0f} {'bytes of personal responses' if what == 'bytes' else what + ' values' if what == 'spi' else 'PI records'} in {w:g} s (threshold {thr:.0f})",
            c.severity, c.response, c.duration,
            {"signal": what, "volume": round(est), "threshold": round(thr), "window_s": w,
             "records": round(st.records.sliding(now, w)), "spi": round(st.spi.sliding(now, w)),
             "bytes": round(st.bytes.sliding(now, w))},
            c.cooldown,
        )  # fmt: skip

    def _unusual(self, st: Subject, ex: Exchange, who: str, route: str, now: float) -> list[Finding] | None:
        c = self.un
        h = int(((now + self._off) % 86_400.0) // 3600.0)
        hours = st.hours
        learned = now - st.first >= c.learn_for and st.total > c.min_requests
        out: list[Finding] | None = None
        if route not in st.routes:
            if len(st.routes) < c.max_routes:
                st.routes.add(route)
            if learned and c.new_endpoint:
                out = [self._unusual_finding(who, "new_endpoint", f"{who} called route {route} for the first time", {"route": route})]
        net = self.network(ex.client_ip)
        if net not in st.nets:
            if len(st.nets) < c.max_networks:
                st.nets.add(net)
            if learned and c.new_network:
                f = self._unusual_finding(who, "new_network", f"{who} called from a new client network {net}", {"network": net})
                out = [f] if out is None else [*out, f]
        if learned and c.off_hours and now - st.first >= 86_400.0 and hours[h] < c.off_hours_share * st.total:
            if self._cooled("unusual", "consumer", who, now, c.cooldown):
                f = self._unusual_finding(
                    who, "off_hours", f"{who} called at {h:02d}h, an hour it almost never uses",
                    {"hour": h, "share_of_history": round(hours[h] / st.total, 5)},
                )  # fmt: skip
                out = [f] if out is None else [*out, f]
        hours[h] += 1
        return out

    def _unusual_finding(self, who: str, what: str, text: str, ev: dict[str, Any]) -> Finding:
        c = self.un
        return Finding("unusual", "consumer", who, text, c.severity, c.response, c.duration, {"signal": what, **ev})


class DetectNow:
    """The anomaly filter's complete phase when nothing must be awaited (bound as the
    filter's ``complete_now`` in filter.py, compiled with the detectors: no interpreted
    frame per exchange).

    It observes the exchange, counts the budgets kept in this process (through the
    filter's ``count_local``, only for a consumer a budget binds) and answers True when
    that was all. False when something must be awaited — an alert to record, budgets on
    the shared counter store, a shared-window sync that is due: what was done is left in
    :attr:`pending` for the filter's ``on_complete``, which the pipeline awaits next for
    this same exchange, so nothing is observed twice.
    """

    def __init__(
        self,
        engine: Engine,
        book: BudgetBook,
        time: Callable[[], float],
        mono: Callable[[], float],
        count_local: Callable[[Exchange, tuple[int, ...], float], list[Finding] | None] | None,
        shared_windows: bool,
    ) -> None:
        self.engine = engine
        self.book = book
        self.has_budgets = bool(book.budgets)
        self.time = time
        self.mono = mono
        self.count_local = count_local
        """Counts budgets in this process; None: budgets go to the shared counter store."""
        self.shared_windows = shared_windows
        self.syncing = False
        """A shared-window sync is running (one at a time)."""
        self.next_sync = 0.0
        """Monotonic time of the next shared-window sync."""
        self.pending: tuple[Exchange, float, list[Finding] | None, tuple[int, ...]] | None = None
        """What :meth:`complete_now` did for the exchange it left to ``on_complete``."""

    def budget_plan(self, exchange: Exchange) -> tuple[int, ...]:
        """The budgets this exchange counts towards (empty: none binds its consumer, or no
        personal information was inspected)."""
        if self.has_budgets:
            ident = exchange.identity
            if ident is not None and exchange.pii is not None:
                return self.book.plan(ident.consumer, ident.purpose)
        return ()

    def complete_now(self, exchange: Exchange) -> bool:
        now = self.time()
        found = self.engine.observe(exchange, now)
        plan = self.budget_plan(exchange)
        count = self.count_local
        if plan and count is not None:  # counted here: no store to await
            over = count(exchange, plan, now)
            plan = ()
            if over:
                found = over if found is None else [*over, *found]  # budgets' alerts first, as awaited
        sync = self.shared_windows and not self.syncing and self.mono() >= self.next_sync
        if not found and not plan and not sync:
            return True
        self.pending = (exchange, now, found, plan)
        return False
