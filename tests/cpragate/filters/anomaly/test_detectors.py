"""Each detector on crafted sequences: it fires on the attack, not on the benign twin."""

from __future__ import annotations

from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.route import RouteInfo
from cpragate.filters.anomaly.budgets import BudgetBook
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.detectors import DetectNow, Engine, Finding
from cpragate.pii.engine import Annotations

T0 = 1_767_258_000.0  # 2026-01-01 09:00 UTC
GET = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api", personal=True)
LIST = RouteInfo("listCustomers", "/v1/customers", ("GET",), "api", personal=True)
HEALTH = RouteInfo("health", "/health", ("GET",), "api")
ALICE = Identity("alice", "service_provider", "api_key", "cpg_aaaaaaaa")
KEY = b"cpg_abcdefgh_" + b"A" * 43


def ex(
    route: RouteInfo | None = GET, ident: Identity | None = ALICE, *, obj: int | None = None, status: int = 200,
    ip: str = "10.0.0.5", records: int = 1, spi: int = 0, nbytes: int = 500, subjects: list[str] | None = None,
    auth_failed: bool = False, key: bytes | None = None,
) -> Exchange:  # fmt: skip
    headers = Headers([(b"x-api-key", key)]) if key is not None else Headers()
    e = Exchange(Request("GET", b"/", "/", b"", headers), "r", client_ip=ip, route=route,
                 params={"id": str(obj)} if obj is not None else None)  # fmt: skip
    e.identity = ident
    e.response = Response(status, Headers(), None)
    if auth_failed:
        e.identity = None
        e.error_code = "CPG-AUTH-001"
        return e
    if route is not None and route.personal and status < 400:
        a = Annotations()
        a.add("EMAIL_ADDRESS", "identifiers", False, "allow", records)
        if spi:
            a.add("US_SSN", "identifiers", True, "mask", spi)
        e.pii = a
        e.bytes_out = nbytes
        e.audit_subjects = subjects
    return e


def feed(engine: Engine, seq: list[tuple[float, Exchange]]) -> list[tuple[float, Finding]]:
    out: list[tuple[float, Finding]] = []
    for t, e in seq:
        for f in engine.observe(e, t) or ():
            out.append((t, f))
    return out


def kinds(found: list[tuple[float, Finding]]) -> list[str]:
    return [f.detector for _, f in found]


def cfg(**kw: Any) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"enabled": True, **kw})


# ---------------------------------------------------------------- scraping


def test_scraping_fires_on_many_distinct_subjects_not_on_rereading_a_few() -> None:
    e = Engine(cfg(exfiltration={"enabled": False}, enumeration={"enabled": False}))
    benign = [(T0 + i * 0.2, ex(obj=i % 20)) for i in range(600)]  # 20 customers, over and over
    assert feed(e, benign) == []
    attack = [(T0 + 200 + i * 0.2, ex(obj=1000 + i * 7)) for i in range(300)]  # 5 req/s, new each time
    found = feed(e, attack)
    assert kinds(found) == ["scraping"]
    t, f = found[0]
    assert t - (T0 + 200) < 60
    assert f.subject == "alice" and f.subject_kind == "consumer" and f.response == "throttle"
    assert f.evidence["distinct_subjects"] > f.evidence["threshold"]
    # the evidence names no data subject
    assert not any(str(1000 + i * 7) in str(f.evidence) + f.summary for i in range(300))


def test_scraping_counts_at_most_per_response_new_subjects_per_response() -> None:
    e = Engine(cfg(scraping={"per_response": 5, "floor": 50}, exfiltration={"enabled": False}))
    big_pages = [(T0 + i * 5.0, ex(LIST, subjects=[f"s{i}-{j}" for j in range(64)], records=64)) for i in range(11)]
    assert feed(e, big_pages) == []  # 11 pages × 5 = 55 > 50 only after a minute: the window moved on


def test_scraping_respects_the_cooldown() -> None:
    e = Engine(cfg(scraping={"cooldown": 600}, exfiltration={"enabled": False}, enumeration={"enabled": False}))
    found = feed(e, [(T0 + i * 0.1, ex(obj=i)) for i in range(3000)])  # 5 minutes of scraping
    assert kinds(found) == ["scraping"]


def test_a_new_consumer_is_judged_by_the_population_prior_then_by_its_own_history() -> None:
    c = cfg(scraping={"floor": 10, "prior": 10, "factor": 3, "sigmas": 0}, exfiltration={"enabled": False},
            enumeration={"enabled": False}, unusual={"enabled": False})  # fmt: skip
    e = Engine(c)
    # a new consumer reading 40 distinct subjects a minute is over 3 × prior = 30
    assert kinds(feed(e, [(T0 + i * 1.5, ex(obj=i)) for i in range(40)])) == ["scraping"]
    # a consumer that has done 40 a minute for an hour is not
    e2 = Engine(c)
    bob = Identity("bob", "service_provider", "api_key", "cpg_bbbbbbbb")
    e2.pop_subj.mean = 10.0
    history = [(T0 + i * 1.5, ex(ident=bob, obj=(i * 13) % 100_000)) for i in range(40 * 60)]
    found = feed(e2, history)
    assert all(t < T0 + 300 for t, _ in found)  # an alert at most while it was new
    late = feed(e2, [(T0 + 3600 + i * 1.5, ex(ident=bob, obj=200_000 + i)) for i in range(40 * 10)])
    assert late == []


# ---------------------------------------------------------------- enumeration


def test_enumeration_fires_on_a_sequential_walk() -> None:
    e = Engine(cfg(scraping={"enabled": False}, exfiltration={"enabled": False}))
    found = feed(e, [(T0 + i * 0.5, ex(obj=5000 + i, status=200 if i % 3 else 404)) for i in range(120)])
    assert kinds(found) == ["enumeration"]
    assert found[0][1].evidence["signal"] in ("sequential", "refused")
    assert found[0][1].response == "block"


def test_enumeration_fires_on_refusals_only_when_they_are_a_large_share() -> None:
    c = cfg(scraping={"enabled": False}, exfiltration={"enabled": False}, enumeration={"floor": 20, "failure_share": 0.5})
    e = Engine(c)
    # 40 refusals among 400 object requests a minute: 10 %, a busy consumer with stale links
    mixed = [(T0 + i * 0.15, ex(obj=(i * 7919) % 100_000, status=404 if i % 10 == 0 else 200)) for i in range(400)]
    assert feed(e, mixed) == []
    e2 = Engine(c)
    probing = [(T0 + i * 1.0, ex(obj=(i * 7919) % 100_000, status=403)) for i in range(40)]
    found = feed(e2, probing)
    assert kinds(found) == ["enumeration"]
    assert found[0][1].evidence["signal"] == "refused"


def test_random_ids_are_not_sequential() -> None:
    e = Engine(cfg(scraping={"enabled": False}, exfiltration={"enabled": False}))
    assert feed(e, [(T0 + i * 0.5, ex(obj=(i * 104_729) % 1_000_003)) for i in range(200)]) == []


# ---------------------------------------------------------------- credentials


def test_credential_stuffing_from_one_ip() -> None:
    e = Engine(cfg())
    found = feed(e, [(T0 + i * 0.2, ex(auth_failed=True, ip="198.51.100.9")) for i in range(40)])
    assert kinds(found) == ["credentials"]
    f = found[0][1]
    assert (f.subject_kind, f.subject, f.response, f.severity) == ("ip", "198.51.100.9", "block", "critical")


def test_brute_force_on_one_key_from_rotating_ips() -> None:
    e = Engine(cfg())
    found = feed(e, [(T0 + i * 2.0, ex(auth_failed=True, ip=f"203.0.113.{i}", key=KEY)) for i in range(20)])
    assert kinds(found) == ["credentials"]
    f = found[0][1]
    assert f.evidence["key_prefix"] == "cpg_abcdefgh"
    assert KEY.decode() not in str(f.evidence) + f.summary  # the secret part never appears


def test_a_few_failures_are_normal() -> None:
    e = Engine(cfg())
    seq = [(T0 + i * 30.0, ex(auth_failed=True, ip="10.1.1.1", key=KEY)) for i in range(100)]  # 2 a minute
    assert feed(e, seq) == []


# ---------------------------------------------------------------- exfiltration


@pytest.mark.parametrize(
    ("records", "spi", "nbytes", "signal"),
    [(500, 0, 1000, "records"), (1, 100, 1000, "spi"), (1, 0, 2_000_000, "bytes")],
)
def test_exfiltration_on_each_volume(records: int, spi: int, nbytes: int, signal: str) -> None:
    e = Engine(cfg(scraping={"enabled": False}))
    found = feed(e, [(T0 + i * 1.0, ex(LIST, records=records, spi=spi, nbytes=nbytes)) for i in range(60)])
    assert kinds(found) == ["exfiltration"]
    assert found[0][1].evidence["signal"] == signal


def test_exfiltration_ignores_refused_and_non_personal_responses() -> None:
    e = Engine(cfg(scraping={"enabled": False}))
    seq = [(T0 + i, ex(LIST, records=5000, status=403)) for i in range(30)]
    seq += [(T0 + 30 + i, ex(HEALTH, records=5000, nbytes=10**8)) for i in range(30)]
    assert feed(e, seq) == []


# ---------------------------------------------------------------- unusual


def test_unusual_access_after_learning() -> None:
    c = cfg(unusual={"learn_for": 3600, "min_requests": 50}, scraping={"enabled": False}, enumeration={"enabled": False})
    e = Engine(c)
    learning = [(T0 + i * 60.0, ex(obj=i % 10, ip=f"10.0.0.{i % 200}")) for i in range(120)]  # 09:00-11:00
    assert feed(e, learning) == []
    t = T0 + 2 * 3600 + 30
    assert kinds(feed(e, [(t, ex(LIST))])) == ["unusual"]  # a route it never called
    assert feed(e, [(t + 1, ex(LIST))]) == []  # only the first time
    found = feed(e, [(t + 2, ex(obj=1, ip="192.0.2.77"))])
    assert [f.evidence["signal"] for _, f in found] == ["new_network"]
    assert found[0][1].evidence["network"] == "192.0.2.0/24"
    assert feed(e, [(T0 + 18 * 3600, ex(obj=2))]) == []  # 03:00 the next morning: under a day of history
    night = T0 + 43 * 3600  # 04:00 the day after
    found = feed(e, [(night, ex(obj=2))])
    assert [f.evidence["signal"] for _, f in found] == ["off_hours"]
    assert found[0][1].severity == "low"


def test_unusual_is_quiet_while_learning() -> None:
    e = Engine(cfg(unusual={"learn_for": 86_400, "min_requests": 10}))
    seq = [(T0 + i * 600.0, ex(r, obj=1 if r is GET else None, ip=f"10.{i}.0.1")) for i, r in enumerate([GET, LIST, HEALTH] * 20)]
    assert feed(e, seq) == []


def test_anonymous_personal_reads_are_tracked_per_ip() -> None:
    e = Engine(cfg(exfiltration={"enabled": False}, enumeration={"enabled": False}))
    found = feed(e, [(T0 + i * 0.1, ex(ident=None, obj=i, ip="198.51.100.3")) for i in range(400)])
    assert [(f.detector, f.subject_kind, f.subject) for _, f in found] == [("scraping", "ip", "198.51.100.3")]


def test_state_is_bounded() -> None:
    e = Engine(cfg(max_subjects=100))
    for i in range(1000):
        e.observe(ex(ident=Identity(f"c{i}", "third_party", "api_key", "k"), obj=i), T0 + i)
        e.observe(ex(auth_failed=True, ip=f"10.9.{i // 250}.{i % 250}"), T0 + i)
    assert len(e.subjects) <= 100 and len(e.fail_ip) <= 100


def test_ipv6_networks() -> None:
    e = Engine(cfg())
    assert e.network("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert e.network("10.1.2.3") == "10.1.2.0/24"
    assert e.network("not-an-ip") == "invalid"


def test_knobs_copy_each_detectors_settings() -> None:
    c = cfg(enumeration={"floor": 7, "max_step": 2, "window": 30}, credentials={"key_floor": 4}, unusual={"ipv4_prefix": 16})
    e = Engine(c)
    assert (e.en.floor, e.en.max_step, e.en.window, e.en.failure_share) == (7, 2, 30.0, c.enumeration.failure_share)
    assert (e.cr.key_floor, e.cr.severity, e.cr.response) == (4, "critical", "block")
    assert (e.ex.floor_records, e.ex.floor_spi, e.ex.floor_bytes) == (2000, 1000, 10_000_000)
    assert (e.sc.per_response, e.un.ipv4_prefix, e.un.min_requests, e.un.enabled) == (10, 16, 500, True)
    assert e.network("10.1.2.3") == "10.1.0.0/16"
    # the texts keep integer floors as integers
    found = feed(e, [(T0 + i, ex(None, None, auth_failed=True, key=KEY)) for i in range(4)])
    assert any("threshold 4)" in f.summary for _, f in found)


def test_adopt_needs_the_same_windows() -> None:
    old = Engine(cfg())
    feed(old, [(T0, ex(obj=1))])
    assert Engine(cfg(scraping={"floor": 3})).adopt(old)
    assert not Engine(cfg(exfiltration={"window": 120})).adopt(old)


# --- DetectNow: the complete phase without an await ---------------------------------------


def _now(cfg: dict[str, Any], *, count_local: Any = None, shared: bool = False) -> tuple[DetectNow, list[float]]:
    clock = [T0, 100.0]
    c = AnomalyConfig.model_validate({"scraping": {"enabled": False}, "exfiltration": {"enabled": False}, **cfg})
    book = BudgetBook(c.budgets, c.max_subjects)
    return DetectNow(Engine(c), book, lambda: clock[0], lambda: clock[1], count_local, shared), clock


def test_detect_now_is_all_of_a_quiet_exchange() -> None:
    d, _ = _now({})
    e = ex(obj=1)
    assert d.complete_now(e) is True and d.pending is None
    assert d.engine.subjects[("consumer", "alice")].total == 1


def test_detect_now_leaves_an_alert_a_due_sync_or_shared_budgets_to_on_complete() -> None:
    # a finding (a sequential walk, as in test_enumeration_fires_on_a_sequential_walk): handed
    # over with what was found and the time it was observed at
    d, clock = _now({})
    handed = []
    for i in range(120):
        clock[0] = T0 + i * 0.5
        e = ex(obj=5000 + i, status=200 if i % 3 else 404)
        if d.complete_now(e) is False:
            assert d.pending is not None and d.pending[:2] == (e, clock[0])
            handed.append([f.detector for f in d.pending[2] or ()])
            d.pending = None
    assert handed == [["enumeration"]]
    # a shared-window sync that is due: False once, then not while the sync runs
    d, clock = _now({}, shared=True)
    assert d.complete_now(ex(obj=1)) is False and d.pending is not None and d.pending[2] is None
    d.syncing, d.pending = True, None
    assert d.complete_now(ex(obj=2)) is True
    d.syncing, d.next_sync = False, clock[1] + 5
    assert d.complete_now(ex(obj=3)) is True
    clock[1] += 5
    assert d.complete_now(ex(obj=4)) is False
    # budgets on the shared counter store (no local counter): the plan is handed over
    d, _ = _now({"budgets": [{"category": "identifiers", "limit": 5}]})
    e = ex(obj=1, records=2)
    assert d.complete_now(e) is False and d.pending == (e, T0, None, (0,))


def test_detect_now_counts_local_budgets_and_puts_their_findings_first() -> None:
    calls: list[tuple[int, ...]] = []
    budget_finding = Finding("budget", "consumer", "alice", "used up", "medium", "none", 0.0, {})

    def count(e: Exchange, plan: tuple[int, ...], now: float) -> list[Finding] | None:
        calls.append(plan)
        return [budget_finding] if len(calls) == 2 else None

    d, _ = _now({"budgets": [{"category": "identifiers", "limit": 5}]}, count_local=count)
    assert d.complete_now(ex(obj=1)) is True and calls == [(0,)]
    e = ex(obj=2)
    assert d.complete_now(e) is False and d.pending == (e, T0, [budget_finding], ())
    # an exchange without personal data is not counted against a budget
    e = ex(obj=3)
    e.pii = None
    assert d.complete_now(e) is True and len(calls) == 2
