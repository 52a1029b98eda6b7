"""Synthetic traffic for the detectors, on a simulated clock (``cpragate replay``).

Sans-IO: builds Exchanges as the data plane would leave them after the response
(identity, route, path parameters, status, the pii filter's counts, the audit filter's
subject lookups, bytes) and steps ``AnomalyFilter.on_complete`` with a FakeClock.

Benign traffic: ``consumers`` API consumers over ``days`` simulated days. Each has a
tenant of customers (its own ids), a handful of routes it uses with fixed weights, one
to three client networks, a volume drawn from a log-normal law, and a daily pattern:
"office" consumers call from 07:00 to 20:00 only, with a morning ramp and a lunch dip;
"always-on" consumers all day, with a night trough at 30–50 % of the peak. Benign
traffic includes what real clients do: 404s on stale ids (1 %), list pages mostly near
the top, occasional authentication failures (expired keys retried), bursts.

Attacks, injected after the first (learning) day at times spread over day and night;
each kind several times, by different actors:

| kind | what | expected detector |
|---|---|---|
| scraping | a stolen key of a benign consumer fetches distinct customers, 3–8 req/s | scraping |
| enumeration | sequential ids, mostly other tenants' (404), 2–5 req/s | enumeration |
| credential_stuffing | one IP, a different leaked key each try, 5–15 req/s | credentials |
| brute_force | one key prefix, secrets guessed from rotating IPs, 0.5–1 req/s | credentials |
| exfiltration | list pages of 500 records, 0.5–2 req/s | exfiltration |
| unusual | a consumer on a route it never used, from a new network, at night | unusual |

The report: for each attack, the delay from its onset to the first alert of its
expected detector about its actor (target ≤ 60 s); false alarms: every alert not
attributable to an attack, per 100,000 benign requests (target ≤ 1).
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import FilterContext
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.route import RouteInfo
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.filter import AnomalyFilter
from cpragate.pii.engine import Annotations
from cpragate.storage.alerts import MemoryAlerts, MemoryBlocks

__all__ = ["AttackResult", "ReplayReport", "run_replay"]

DAY = 86_400.0
_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a midnight
_TAIL = 121.0
"""An alert up to two windows after an attack's end is the attack's (its requests are
still in the sliding window), not a false alarm."""


@dataclass
class _Route:
    info: RouteInfo
    kind: str  # "get" (one record), "list", "plain"


def _routes() -> dict[str, _Route]:
    def r(name: str, tpl: str, personal: bool, kind: str) -> _Route:
        return _Route(RouteInfo(name=name, template=tpl, methods=("GET",), upstream="api", personal=personal), kind)

    return {
        "getCustomer": r("getCustomer", "/v1/customers/{id}", True, "get"),
        "listCustomers": r("listCustomers", "/v1/customers", True, "list"),
        "getOrder": r("getOrder", "/v1/orders/{id}", True, "get"),
        "listCustomerOrders": r("listCustomerOrders", "/v1/customers/{id}/orders", True, "list1"),
        "getTicket": r("getTicket", "/v1/tickets/{id}", True, "get"),
        "getHealth": r("getHealth", "/health", False, "plain"),
        "exportCustomers": r("exportCustomers", "/v1/exports/customers", True, "list"),
    }


_BENIGN_ROUTES = ("getCustomer", "listCustomers", "getOrder", "listCustomerOrders", "getTicket", "getHealth")


@dataclass
class _Consumer:
    name: str
    ident: Identity
    office: bool
    peak: float  # requests per second at the daily peak
    routes: list[str]
    weights: list[float]
    nets: list[str]
    tenant_base: int
    tenant_size: int
    trough: float
    key_prefix: str


@dataclass
class AttackResult:
    kind: str
    actor: str
    onset: float
    duration: float
    requests: int
    detected_at: float | None = None
    detector: str | None = None

    @property
    def delay(self) -> float | None:
        return None if self.detected_at is None else self.detected_at - self.onset


@dataclass
class ReplayReport:
    benign: int
    attack_requests: int
    days: float
    consumers: int
    attacks: list[AttackResult]
    false_alarms: list[dict[str, Any]]
    alerts: int
    wall_seconds: float
    cpu_seconds: float
    by_detector: dict[str, int] = field(default_factory=dict)

    @property
    def false_per_100k(self) -> float:
        return len(self.false_alarms) * 100_000 / max(1, self.benign)

    @property
    def max_delay(self) -> float | None:
        ds = [a.delay for a in self.attacks]
        return None if any(d is None for d in ds) else max(d for d in ds if d is not None)

    def summary_line(self) -> str:
        md = self.max_delay
        return (
            f"anomaly replay: {self.benign:,} benign requests ({self.consumers} consumers, {self.days:g} days), "
            f"{len(self.attacks)} attacks of {len({a.kind for a in self.attacks})} kinds: "
            f"{sum(a.detected_at is not None for a in self.attacks)}/{len(self.attacks)} detected, "
            f"worst delay {'MISSED' if md is None else f'{md:.1f} s'} (target ≤ 60 s); "
            f"{len(self.false_alarms)} false alarms = {self.false_per_100k:.2f} per 100k benign (target ≤ 1)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "benign_requests": self.benign,
            "attack_requests": self.attack_requests,
            "days": self.days,
            "consumers": self.consumers,
            "attacks": [
                {"kind": a.kind, "actor": a.actor, "onset": a.onset - _EPOCH, "duration": a.duration, "requests": a.requests,
                 "delay_s": None if a.delay is None else round(a.delay, 2), "detector": a.detector}
                for a in self.attacks
            ],
            "false_alarms": self.false_alarms,
            "false_alarms_per_100k": round(self.false_per_100k, 3),
            "alerts": self.alerts,
            "alerts_by_detector": self.by_detector,
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
        }


class _Sim:
    def __init__(self, seed: int, consumers: int, cfg: AnomalyConfig) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic traffic, not secrets
        self.clock = FakeClock(_EPOCH)
        self.alerts = MemoryAlerts(max_alerts=1_000_000)
        self.blocks = MemoryBlocks()
        stores = _Stores(self.alerts, self.blocks)
        self.filter = AnomalyFilter(cfg, FilterContext(clock=self.clock, stores=stores))
        self.routes = _routes()
        self.consumers = [self._consumer(i) for i in range(consumers)]
        self.req_plain = Request("GET", b"/", "/")
        self.ok = Response(200, Headers(), None)
        self.not_found = Response(404, Headers(), None)
        self.unauth = Response(401, Headers(), None)
        self.n = 0

    def _consumer(self, i: int) -> _Consumer:
        rng = self.rng
        office = rng.random() < 0.6
        # log-normal volume: median ≈ 0.03 req/s at the peak, a few consumers at 1–3 req/s
        peak = min(3.0, math.exp(rng.gauss(math.log(0.03), 1.3)))
        k = rng.randint(2, 5)
        routes = rng.sample(_BENIGN_ROUTES, k)
        weights = [rng.uniform(0.15, 1.0) for _ in routes]
        nets = [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}" for _ in range(rng.randint(1, 3))]
        name = f"consumer-{i:04d}"
        ident = Identity(consumer=name, purpose=rng.choice(("service_provider", "contractor", "third_party")),
                         method="api_key", credential_id=f"cpg_{i:08d}")  # fmt: skip
        return _Consumer(name, ident, office, peak, routes, weights, nets, 1_000_000 + i * 10_000,
                         rng.randint(200, 5000), rng.uniform(0.3, 0.5), f"cpg_{i:08d}")  # fmt: skip

    # ------------------------------------------------------------------ daily pattern

    @staticmethod
    def shape(c: _Consumer, t: float) -> float:
        """Rate at ``t`` as a share of the peak."""
        h = ((t - _EPOCH) % DAY) / 3600.0
        if c.office:
            if h < 7.0 or h >= 20.0:
                return 0.0
            ramp = min(1.0, (h - 7.0) / 2.0)  # 07:00-09:00 ramp-up
            lunch = 0.6 if 12.0 <= h < 13.5 else 1.0
            fade = min(1.0, (20.0 - h) / 2.0)
            return max(0.05, ramp) * lunch * max(0.05, fade)
        return c.trough + (1.0 - c.trough) * 0.5 * (1.0 - math.cos(2 * math.pi * (h - 3.0) / 24.0))

    def next_time(self, c: _Consumer, t: float) -> float:
        rng = self.rng
        while True:
            t += rng.expovariate(c.peak)
            if c.office:
                h = ((t - _EPOCH) % DAY) / 3600.0
                if h < 7.0 or h >= 20.0:  # jump to the next 07:00
                    day0 = t - ((t - _EPOCH) % DAY)
                    t = day0 + 7 * 3600.0 + (DAY if h >= 20.0 else 0.0)
                    continue
            if rng.random() < self.shape(c, t):
                return t

    # ------------------------------------------------------------------ exchanges

    def exchange(
        self, route: str, ident: Identity | None, ip: str, *, obj: int | None = None, status: int = 200,
        records: int = 1, subjects: list[str] | None = None, api_key: bytes | None = None,
    ) -> Exchange:  # fmt: skip
        r = self.routes[route]
        req = self.req_plain
        if api_key is not None:
            req = Request("GET", b"/", "/", b"", Headers([(b"x-api-key", api_key)]))
        ex = Exchange(req, "r", client_ip=ip, route=r.info, params={"id": str(obj)} if obj is not None else None)
        ex.identity = ident
        ex.response = self.ok if status == 200 else self.not_found if status == 404 else self.unauth
        if status == 401:
            ex.error_code = "CPG-AUTH-001"
            ex.outcome = "denied"
            return ex
        ex.outcome = "served"
        if r.info.personal and status == 200:
            a = Annotations()
            a.add("EMAIL_ADDRESS", "identifiers", False, "allow", records)
            a.add("PHONE_NUMBER", "identifiers", False, "allow", records)
            a.add("US_SSN", "identifiers", True, "mask", records)
            ex.pii = a
            ex.bytes_out = 900 * records + 200
            if subjects is not None:
                ex.audit_subjects = subjects
        else:
            ex.bytes_out = 120
        return ex

    def feed(self, ex: Exchange, t: float) -> None:
        if t > self.clock.time():
            self.clock.advance(t - self.clock.time())  # the simulated clock jumps to the event
        coro = self.filter.on_complete(ex)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - memory stores never suspend
            coro.close()
            raise RuntimeError("on_complete suspended on memory stores")
        self.n += 1

    def benign(self, c: _Consumer) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        route = rng.choices(c.routes, c.weights)[0]
        ip = f"{rng.choice(c.nets)}.{rng.randint(1, 254)}"
        kind = self.routes[route].kind
        if kind == "plain":
            return route, {"ip": ip}
        if kind == "get" or kind == "list1":
            # popular customers are fetched more often (a Zipf-like law over the tenant)
            idx = min(c.tenant_size - 1, int(c.tenant_size * rng.random() ** 3))
            obj = c.tenant_base + idx
            status = 404 if rng.random() < 0.01 else 200
            return route, {"ip": ip, "obj": obj, "status": status, "records": rng.randint(1, 8) if kind == "list1" else 1}
        # list: mostly the first pages, sometimes deeper
        limit = rng.choice((10, 20, 20, 50))
        page = rng.randint(0, 2) if rng.random() < 0.9 else rng.randint(0, max(0, c.tenant_size // limit))
        subjects = [f"s{c.tenant_base + page * limit + j}" for j in range(min(limit, 64))]
        return route, {"ip": ip, "records": limit, "subjects": subjects}


class _Stores:
    def __init__(self, alerts: MemoryAlerts, blocks: MemoryBlocks) -> None:
        self.alerts = alerts
        self.blocks = blocks
        self.counters = None
        self.shared = False


def _attack_plan(sim: _Sim, days: float, per_kind: int) -> list[tuple[str, float, float]]:
    """(kind, onset, duration) for every attack, after the first day, spread over the hours."""
    kinds = ("scraping", "enumeration", "credential_stuffing", "brute_force", "exfiltration", "unusual")
    rng = sim.rng
    plan: list[tuple[str, float, float]] = []
    span = max(DAY * 0.25, (days - 1.0) * DAY)
    n = len(kinds) * per_kind
    for j in range(n):
        kind = kinds[j % len(kinds)]
        slot = DAY + span * (j + 0.5) / n
        onset = slot + rng.uniform(-0.2, 0.2) * span / n
        plan.append((kind, _EPOCH + onset, 600.0 if kind != "unusual" else 60.0))
    return plan


def run_replay(
    benign_target: int = 1_000_000,
    consumers: int = 400,
    days: float = 3.0,
    per_kind: int = 4,
    seed: int = 7,
    cfg: AnomalyConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReplayReport:
    """Run the replay: ``benign_target`` benign requests over about ``days`` days (the
    volume is scaled to fit), with the attacks at fixed times after the first day."""
    cfg = cfg or AnomalyConfig(enabled=True)
    sim = _Sim(seed, consumers, cfg)
    rng = sim.rng
    # scale the volumes so that `days` days hold about `benign_target` benign requests
    grid = [_EPOCH + DAY * k / 288 for k in range(288)]
    expected = sum(c.peak * DAY * sum(sim.shape(c, g) for g in grid) / 288 for c in sim.consumers)
    scale = benign_target / max(1.0, expected * days)
    for c in sim.consumers:
        c.peak *= scale
    heap: list[tuple[float, int, int]] = []  # (time, seq, event index); events: consumers then attacks
    seq = 0
    for i, c in enumerate(sim.consumers):
        heapq.heappush(heap, (sim.next_time(c, _EPOCH), seq, i))
        seq += 1
    attacks: list[AttackResult] = []
    actors: list[dict[str, Any]] = []
    for kind, onset, dur in _attack_plan(sim, days, per_kind):
        a = _make_attack(sim, kind, onset, dur, len(attacks))
        attacks.append(AttackResult(kind, a["actor"], onset, dur, 0))
        actors.append(a)
        heapq.heappush(heap, (onset, seq, len(sim.consumers) + len(actors) - 1))
        seq += 1
    benign = 0
    attack_requests = 0
    t_wall = time.perf_counter()
    t_cpu = time.process_time()
    report_every = max(1, benign_target // 10)
    while heap:
        t, _, idx = heapq.heappop(heap)
        if idx < len(sim.consumers):
            if benign >= benign_target:  # benign traffic runs until the target, even a little past `days`
                continue
            c = sim.consumers[idx]
            route, kw = sim.benign(c)
            sim.feed(sim.exchange(route, c.ident, **kw), t)
            benign += 1
            if progress is not None and benign % report_every == 0:
                progress(f"{benign:,} benign requests, simulated day {(t - _EPOCH) / DAY:.2f}")
            heapq.heappush(heap, (sim.next_time(c, t), seq, idx))
            seq += 1
        else:
            k = idx - len(sim.consumers)
            a = actors[k]
            res = attacks[k]
            if t >= res.onset + res.duration:
                continue
            a["step"](t)
            res.requests += 1
            attack_requests += 1
            heapq.heappush(heap, (t + rng.expovariate(a["rate"]), seq, idx))
            seq += 1
    wall = time.perf_counter() - t_wall
    cpu = time.process_time() - t_cpu
    return _judge(sim, attacks, actors, benign, attack_requests, days, consumers, wall, cpu)


def _make_attack(sim: _Sim, kind: str, onset: float, dur: float, n: int) -> dict[str, Any]:
    rng = sim.rng
    # the victim: a consumer with real traffic whose key was stolen (or who turned rogue)
    victims = [c for c in sim.consumers if c.peak > 0.01] or sim.consumers
    c = rng.choice(victims)
    attacker_ip = f"198.51.{100 + n % 100}.{rng.randint(1, 254)}"
    if kind == "scraping":
        rate = rng.uniform(3, 8)
        order = list(range(c.tenant_size))
        rng.shuffle(order)
        pos = [0]

        def step(t: float) -> None:
            obj = c.tenant_base + order[pos[0] % len(order)]
            pos[0] += 1
            sim.feed(sim.exchange("getCustomer", c.ident, attacker_ip, obj=obj), t)

        return {"actor": c.name, "detector": "scraping", "rate": rate, "step": step}
    if kind == "enumeration":
        rate = rng.uniform(2, 5)
        cur = [c.tenant_base + c.tenant_size - 30]

        def step(t: float) -> None:
            cur[0] += 1
            own = c.tenant_base <= cur[0] < c.tenant_base + c.tenant_size
            sim.feed(sim.exchange("getOrder", c.ident, attacker_ip, obj=cur[0], status=200 if own else 404), t)

        return {"actor": c.name, "detector": "enumeration", "rate": rate, "step": step}
    if kind == "credential_stuffing":
        rate = rng.uniform(5, 15)

        def step(t: float) -> None:
            key = b"cpg_" + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz234567") for _ in range(8)) + b"_" + b"x" * 43
            sim.feed(sim.exchange("getCustomer", None, attacker_ip, status=401, api_key=key), t)

        return {"actor": attacker_ip, "detector": "credentials", "rate": rate, "step": step}
    if kind == "brute_force":
        rate = rng.uniform(0.5, 1.0)
        prefix = b"cpg_" + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz234567") for _ in range(8))
        holder: dict[str, str] = {"ip": ""}

        def step(t: float) -> None:
            ip = f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            holder["ip"] = ip
            key = prefix + b"_" + bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(43))
            sim.feed(sim.exchange("getCustomer", None, ip, status=401, api_key=key), t)

        return {"actor": "key:" + prefix.decode(), "detector": "credentials", "rate": rate, "step": step}
    if kind == "exfiltration":
        rate = rng.uniform(0.5, 2.0)
        page = [0]

        def step(t: float) -> None:
            page[0] += 1
            subjects = [f"x{c.tenant_base}:{page[0]}:{j}" for j in range(64)]
            sim.feed(sim.exchange("listCustomers", c.ident, attacker_ip, records=500, subjects=subjects), t)

        return {"actor": c.name, "detector": "exfiltration", "rate": rate, "step": step}
    # unusual: a learned consumer on a route it never used, from a new network
    learned = [x for x in sim.consumers if x.peak > 0.02] or sim.consumers
    u = rng.choice(learned)

    def unusual_step(t: float) -> None:
        sim.feed(sim.exchange("exportCustomers", u.ident, attacker_ip, records=20, subjects=None), t)

    return {"actor": u.name, "detector": "unusual", "rate": 0.2, "step": unusual_step}


def _judge(
    sim: _Sim, attacks: list[AttackResult], actors: list[dict[str, Any]], benign: int, attack_requests: int,
    days: float, consumers: int, wall: float, cpu: float,
) -> ReplayReport:  # fmt: skip
    alerts = list(sim.alerts._alerts)  # oldest first
    by_det: dict[str, int] = {}
    false: list[dict[str, Any]] = []
    for al in alerts:
        by_det[al.detector] = by_det.get(al.detector, 0) + 1
        matched = False
        for a, meta in zip(attacks, actors, strict=True):
            if not (a.onset <= al.created_at <= a.onset + a.duration + _TAIL):
                continue
            actor = meta["actor"]
            subject_match = al.subject == actor or (
                actor.startswith("key:") and al.evidence.get("key_prefix") == actor[4:]
            ) or (al.subject_kind == "ip" and al.subject.startswith("198.51.") and a.kind == "credential_stuffing")
            if not subject_match:
                continue
            matched = True
            if al.detector == meta["detector"] and a.detected_at is None:
                a.detected_at = al.created_at
                a.detector = al.detector
        if not matched:
            false.append({"detector": al.detector, "subject": al.subject, "t": round(al.created_at - _EPOCH, 1),
                          "summary": al.summary})  # fmt: skip
    return ReplayReport(
        benign=benign, attack_requests=attack_requests, days=days, consumers=consumers, attacks=attacks,
        false_alarms=false, alerts=len(alerts), wall_seconds=wall, cpu_seconds=cpu, by_detector=by_det,
    )  # fmt: skip
