"""The anomaly filter: alerts stored and logged, blocks placed, budgets enforced."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.pipeline import Pipeline
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import ConsumerBlocked, DataBudgetExhausted, RateLimited, StorageError
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.filter import AnomalyFilter
from cpragate.filters.ratelimit.config import RateLimitConfig
from cpragate.filters.ratelimit.filter import RateLimitFilter, RateLimitIpFilter
from cpragate.pii.engine import Annotations
from cpragate.storage.alerts import MemoryAlerts, MemoryBlocks
from cpragate.testing import make_exchange, make_request, make_response, run_pipeline

ROUTE = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api", personal=True, settings=SimpleNamespace(ratelimit=None))
ALICE = Identity("alice", "third_party", "api_key", "cpg_aaaaaaaa")


class Stores(SimpleNamespace):
    pass


def stores() -> Stores:
    return Stores(alerts=MemoryAlerts(), blocks=MemoryBlocks(), counters=None, shared=False, limiter=None)


def make(cfg: dict[str, Any], st: Stores, clock: FakeClock) -> AnomalyFilter:
    return AnomalyFilter(AnomalyConfig.model_validate({"enabled": True, **cfg}), FilterContext(clock=clock, stores=st))


def call(filters: list[Any], obj: int, clock: FakeClock, ident: Identity | None = ALICE, ip: str = "10.0.0.1",
         status: int = 200) -> Any:  # fmt: skip
    ex = make_exchange(make_request("GET", f"/v1/customers/{obj}"), route=ROUTE, client_ip=ip)
    ex.params = {"id": str(obj)}
    ex.identity = ident
    return run_pipeline(filters, ex, make_response(status))


def annotate(ex: Any, ids: int, spi: int = 0) -> None:
    a = Annotations()
    a.add("EMAIL_ADDRESS", "identifiers", False, "allow", ids)
    if spi:
        a.add("US_SSN", "identifiers", True, "mask", spi)
    ex.pii = a


def complete(f: AnomalyFilter, obj: int, ident: Identity | None = ALICE, ids: int = 1, spi: int = 0,
             status: int = 200, ip: str = "10.0.0.1") -> Any:  # fmt: skip
    ex = make_exchange(make_request("GET", f"/v1/customers/{obj}"), route=ROUTE, client_ip=ip)
    ex.params = {"id": str(obj)}
    ex.identity = ident
    ex.response = make_response(status)
    if status < 400:
        annotate(ex, ids, spi)
    asyncio.run(f.on_complete(ex))
    return ex


def test_scraping_raises_an_alert_and_throttles_the_consumer(caplog: pytest.LogCaptureFixture) -> None:
    # BlockStore.lift judges "active" on the wall clock, so stay near it; but start on a
    # window boundary: the 15 s run below must not straddle two 60 s windows (it failed
    # in CI when it did, the count split across them under the floor).
    now = time.time()
    clock = FakeClock(now - now % 60 + 1)
    st = stores()
    f = make({"exfiltration": {"enabled": False}}, st, clock)
    with caplog.at_level(logging.WARNING, logger="cpragate.anomaly"):
        for i in range(150):
            clock.advance(0.1)
            complete(f, 90_000 + i * 7)
    alerts = asyncio.run(st.alerts.list())
    assert [a.detector for a in alerts] == ["scraping"]
    a = alerts[0]
    assert (a.subject_kind, a.subject, a.severity) == ("consumer", "alice", "high")
    assert a.created_at == pytest.approx(clock.time(), abs=15)
    block = asyncio.run(st.blocks.check("consumer", "alice", clock.time()))
    assert block is not None and block.action == "throttle" and block.alert_id == a.id
    assert block.expires_at == pytest.approx(a.created_at + 600)
    # the log line has counts and names, never a data subject's id
    line = next(r.getMessage() for r in caplog.records if "scraping" in r.getMessage())
    assert "alice" in line and "90001" not in line

    # the consumer rate limiter enforces the throttle: a burst of 5, then 429
    rl = RateLimitFilter(RateLimitConfig(), FilterContext(clock=clock, stores=st))
    statuses = []
    for i in range(8):
        ex = make_exchange(make_request(), route=ROUTE)
        ex.identity = ALICE
        statuses.append(run_pipeline([rl], ex, make_response(200)).exchange.response.status)
    assert statuses == [200] * 5 + [429] * 3
    # an admin lifts it; access is back
    assert asyncio.run(st.blocks.lift("consumer", "alice", by="admin"))
    ex = make_exchange(make_request(), route=ROUTE)
    ex.identity = ALICE
    assert run_pipeline([rl], ex, make_response(200)).request is CONTINUE


def test_block_response_answers_403_and_expires() -> None:
    clock = FakeClock()
    st = stores()
    f = make({}, st, clock)
    for i in range(40):
        clock.advance(0.2)
        ex = make_exchange(make_request(), route=ROUTE, client_ip="198.51.100.4")
        ex.error_code = "CPG-AUTH-001"
        ex.response = make_response(401)
        asyncio.run(f.on_complete(ex))
    rl = RateLimitIpFilter(RateLimitConfig(), FilterContext(clock=clock, stores=st))
    v = run_pipeline([rl], make_exchange(make_request(), route=ROUTE, client_ip="198.51.100.4"), make_response(200))
    assert isinstance(v.request, Deny) and v.request.error is ConsumerBlocked
    assert v.exchange.response.status == 403
    assert 590 <= int(dict(v.request.headers)[b"retry-after"]) <= 600
    other = run_pipeline([rl], make_exchange(make_request(), route=ROUTE, client_ip="198.51.100.5"), make_response(200))
    assert other.request is CONTINUE
    clock.advance(601)
    again = run_pipeline([rl], make_exchange(make_request(), route=ROUTE, client_ip="198.51.100.4"), make_response(200))
    assert again.request is CONTINUE


def test_throttle_uses_the_configured_rate() -> None:
    clock = FakeClock()
    st = stores()
    from cpragate.storage.alerts import Block

    asyncio.run(st.blocks.put(Block("consumer", "alice", "throttle", "test", clock.time(), clock.time() + 60)))
    rl = RateLimitFilter(RateLimitConfig.model_validate({"throttle": {"rate": 2, "per": 60}}), FilterContext(clock=clock, stores=st))
    out = []
    for _ in range(3):
        ex = make_exchange(make_request(), route=ROUTE)
        ex.identity = ALICE
        out.append(run_pipeline([rl], ex, make_response(200)).request)
    assert out[:2] == [CONTINUE, CONTINUE]
    assert isinstance(out[2], Deny) and out[2].error is RateLimited and out[2].rule == "ratelimit:throttled:consumer"


def test_blocks_are_not_enforced_when_turned_off() -> None:
    clock = FakeClock()
    st = stores()
    from cpragate.storage.alerts import Block

    asyncio.run(st.blocks.put(Block("consumer", "alice", "block", "test", clock.time(), clock.time() + 60)))
    rl = RateLimitFilter(RateLimitConfig.model_validate({"enforce_blocks": False}), FilterContext(clock=clock, stores=st))
    assert not rl.applies_to(ROUTE)


def test_budget_is_enforced_with_a_stable_code_and_headers() -> None:
    clock = FakeClock(1_767_225_600.0 + 10)
    st = stores()
    f = make({"budgets": [{"category": "identifiers", "limit": 50, "per": 3600, "purposes": ["third_party"]}],
              "scraping": {"enabled": False}, "exfiltration": {"enabled": False}}, st, clock)  # fmt: skip
    bob = Identity("bob", "service_provider", "api_key", "cpg_bbbbbbbb")
    for i in range(5):
        complete(f, i, ids=10)
        complete(f, i, ident=bob, ids=10)
    p = Pipeline([f])
    ex = make_exchange(make_request(), route=ROUTE)
    ex.identity = ALICE
    v = asyncio.run(p.run_request(ex))
    assert isinstance(v, Deny) and v.error is DataBudgetExhausted
    h = dict(v.headers)
    assert h[b"retry-after"] == b"3590"
    assert h[b"ratelimit-policy"] == b'"pd-identifiers";q=50;w=3600'
    assert DataBudgetExhausted.status == 429 and DataBudgetExhausted.code == "CPG-RATE-004"
    ex2 = make_exchange(make_request(), route=ROUTE)
    ex2.identity = bob  # another purpose: not bound by this budget
    assert asyncio.run(p.run_request(ex2)) is CONTINUE
    assert [a.detector for a in asyncio.run(st.alerts.list())] == ["budget"]
    clock.advance(3600)
    assert asyncio.run(p.run_request(ex)) is CONTINUE


def test_budget_gate_decides_synchronously() -> None:
    # request_now (the pipeline's synchronous fast path) gives the verdict on_request gives,
    # without a coroutine; it never returns None (the budgets are in memory).
    clock = FakeClock(1_767_225_600.0 + 10)
    f = make({"budgets": [{"category": "identifiers", "limit": 5, "per": 60}]}, stores(), clock)
    assert type(f).implements("request_now")
    ex = make_exchange(make_request(), route=ROUTE)
    ex.identity = ALICE
    anonymous = make_exchange(make_request(), route=ROUTE)
    assert f.request_now(ex) is CONTINUE and f.request_now(anonymous) is CONTINUE
    complete(f, 1, ids=6)
    v = f.request_now(ex)
    assert isinstance(v, Deny) and v.error is DataBudgetExhausted and v.rule == "anomaly:budget:identifiers"
    assert dict(v.headers)[b"retry-after"] == b"50" and dict(v.headers)[b"ratelimit-policy"] == b'"pd-identifiers";q=5;w=60'
    assert f.request_now(anonymous) is CONTINUE
    again = asyncio.run(f.on_request(ex))
    assert isinstance(again, Deny) and dict(again.headers) == dict(v.headers)
    p = Pipeline([f])
    assert isinstance(p.request_now(ex), Deny) and ex.decisions[-1].rule == "anomaly:budget:identifiers"
    clock.advance(50)
    assert f.request_now(ex) is CONTINUE


def test_budgets_binding_no_consumer_cost_no_counting() -> None:
    clock = FakeClock()
    f = make({"budgets": [{"category": "identifiers", "limit": 5, "purposes": ["service_provider"]}]}, stores(), clock)
    for i in range(10):
        complete(f, i, ids=10)  # alice is a third party: no budget binds her
    assert not f.book.counts and not f.book.exhausted


def test_budget_counts_spi_on_a_shared_counter_store() -> None:
    clock = FakeClock()
    counted: dict[str, int] = {}

    class Counters:
        async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
            counted[key] = counted.get(key, 0) + amount
            return counted[key] + 1000  # other instances already counted 1000

        async def get(self, key: str) -> int:
            return counted.get(key, 0)

    st = stores()
    st.counters, st.shared = Counters(), True
    f = make({"budgets": [{"category": "spi", "limit": 1005}], "scraping": {"enabled": False}}, st, clock)
    complete(f, 1, ids=3, spi=3)
    assert list(counted.values()) == [3]
    assert f.book.blocked("alice", clock.time()) is None
    complete(f, 2, ids=3, spi=3)
    assert f.book.blocked("alice", clock.time()) is not None


def test_store_failures_never_reach_the_client(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def add(self, alert: Any) -> None:
            raise StorageError("down")

        async def put(self, block: Any) -> None:
            raise StorageError("down")

    clock = FakeClock()
    st = Stores(alerts=Broken(), blocks=Broken(), counters=None, shared=False)
    f = make({"exfiltration": {"enabled": False}}, st, clock)
    with caplog.at_level(logging.ERROR, logger="cpragate.anomaly"):
        for i in range(150):
            clock.advance(0.1)
            complete(f, i * 7)
    assert f.raised == 1
    assert any("could not be stored" in r.getMessage() for r in caplog.records)


def test_refused_exchanges_are_observed_and_unrelated_ones_cost_nothing() -> None:
    clock = FakeClock()
    st = stores()
    f = make({}, st, clock)
    run = call([f], 1, clock, ident=None, status=401)
    assert run.exchange.response.status == 401
    assert f.engine.subjects == {}  # anonymous and refused: nothing to track but auth failures
    assert f.complete_priority == 8 and f.priority == 700


class FakeWindows:
    """storage.windows.WindowCounts in memory: what two instances sharing Redis would see."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.sets: dict[str, set[str]] = {}
        self.claimed: set[str] = set()
        self.calls = 0

    async def add_counts(self, items: list[tuple[str, int, float]]) -> list[int]:
        self.calls += 1
        out = []
        for k, n, _ttl in items:
            self.counts[k] = self.counts.get(k, 0) + n
            out.append(self.counts[k])
        return out

    async def add_distinct(self, items: list[tuple[str, list[str], float]]) -> list[int]:
        self.calls += 1
        out = []
        for k, members, _ttl in items:
            self.sets.setdefault(k, set()).update(members)
            out.append(len(self.sets[k]))
        return out

    async def claim(self, key: str, ttl: float) -> bool:
        if key in self.claimed:
            return False
        self.claimed.add(key)
        return True


def test_shared_windows_see_a_harvest_spread_over_two_instances() -> None:
    clock = FakeClock()
    shared = FakeWindows()
    cfg = {"scraping": {"floor": 60, "prior": 1}, "exfiltration": {"enabled": False}, "sync_interval": 1.0}

    def instance(windows: Any) -> AnomalyFilter:
        st = stores()
        st.windows = windows
        return make(cfg, st, clock)

    a, b = instance(shared), instance(shared)
    assert a.engine.shared and b.engine.shared
    for i in range(100):  # 50 distinct customers through each instance, 10 a second
        clock.advance(0.1)
        complete(a if i % 2 else b, 50_000 + i * 7)
    assert a.raised + b.raised == 1  # together they saw 100 > 60; one alert for both (claimed)
    assert shared.claimed == {"scraping:consumer:alice"}
    assert shared.calls > 0
    assert all(len(k.split(":")) == 4 for k in shared.counts)  # signal:kind:who:window
    # the ids went out hashed, never as they are
    assert not any("50007" in m for s in shared.sets.values() for m in s)

    alone_a, alone_b = instance(None), instance(None)
    assert not alone_a.engine.shared
    for i in range(100):
        clock.advance(0.1)
        complete(alone_a if i % 2 else alone_b, 90_000 + i * 7)
    assert alone_a.raised + alone_b.raised == 0  # each saw 50 < 60


def test_shared_windows_off_or_failing() -> None:
    clock = FakeClock()
    st = stores()
    st.windows = FakeWindows()
    off = make({"shared": "off"}, st, clock)
    assert off.windows is None and not off.engine.shared

    class Down(FakeWindows):
        async def add_counts(self, items: list[tuple[str, int, float]]) -> list[int]:
            raise StorageError("down")

    st2 = stores()
    st2.windows = Down()
    f = make({"exfiltration": {"enabled": False}}, st2, clock)
    for i in range(150):
        clock.advance(0.1)
        complete(f, i * 7)
    assert f.raised == 1  # counting went on in this instance


def test_a_reload_keeps_the_learned_baselines_when_windows_are_unchanged() -> None:
    clock = FakeClock()
    st = stores()
    st.carry = {}
    first = make({"budgets": [{"category": "identifiers", "limit": 5}]}, st, clock)
    for i in range(3):
        clock.advance(1)
        complete(first, i * 11, ids=2)
    learned = first.engine.subjects
    assert learned and first.book.counts
    same = make({"budgets": [{"category": "identifiers", "limit": 5}], "scraping": {"floor": 7}}, st, clock)
    assert same.engine.subjects is learned and same.book is first.book
    assert st.carry["anomaly"] is same
    other_window = make({"scraping": {"window": 120}}, st, clock)
    assert other_window.engine.subjects == {} and not other_window.book.counts


def fast_complete(f: AnomalyFilter, obj: int, ident: Identity | None = ALICE, ids: int = 1, spi: int = 0) -> bool:
    """One exchange through the pipeline's complete phase as the server runs it: the
    synchronous ``complete_now`` first, ``run_complete`` from where it stopped. True: no
    coroutine was needed."""
    ex = make_exchange(make_request("GET", f"/v1/customers/{obj}"), route=ROUTE, client_ip="10.0.0.1")
    ex.params = {"id": str(obj)}
    ex.identity = ident
    ex.response = make_response(200)
    annotate(ex, ids, spi)
    p = Pipeline([f])
    at = p.complete_now(ex)
    if at < len(p.complete_filters):
        asyncio.run(p.run_complete(ex, at))
        return False
    return True


def test_complete_phase_is_synchronous_until_an_alert_must_be_stored() -> None:
    # The detectors run in complete_now; only the exchange that raises the alert makes the
    # pipeline await on_complete, which stores it without observing the exchange again.
    now = time.time()
    clock = FakeClock(now - now % 60 + 1)
    st = stores()
    f = make({"exfiltration": {"enabled": False}}, st, clock)
    assert type(f).implements("complete_now")
    assert f.complete_now == f._now.complete_now  # bound to the compiled method: no Python frame
    awaited = []
    for i in range(150):
        clock.advance(0.1)
        if not fast_complete(f, 90_000 + i * 7):
            awaited.append(i)
    alerts = asyncio.run(st.alerts.list())
    assert [a.detector for a in alerts] == ["scraping"] and len(awaited) == 1
    assert f.engine.subjects[("consumer", "alice")].total == 150  # each exchange observed once
    assert f._now.pending is None


def test_local_budgets_count_synchronously_and_alert_once() -> None:
    clock = FakeClock(1_767_225_600.0 + 10)
    st = stores()
    f = make({"budgets": [{"category": "identifiers", "limit": 50, "per": 3600}],
              "scraping": {"enabled": False}, "exfiltration": {"enabled": False}}, st, clock)  # fmt: skip
    sync = [fast_complete(f, i, ids=10) for i in range(5)]
    assert sync == [True] * 4 + [False]  # the fifth uses the budget up: its alert is awaited
    assert [a.detector for a in asyncio.run(st.alerts.list())] == ["budget"]
    assert f.book.blocked("alice", clock.time()) is not None
    assert fast_complete(f, 6, ids=10)  # over budget already: counted, no second alert
    assert len(asyncio.run(st.alerts.list())) == 1


def test_shared_budget_counters_are_awaited_from_complete_now() -> None:
    clock = FakeClock()
    counted: dict[str, int] = {}

    class Counters:
        async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
            counted[key] = counted.get(key, 0) + amount
            return counted[key]

    st = stores()
    st.counters, st.shared = Counters(), True
    f = make({"budgets": [{"category": "spi", "limit": 100}], "scraping": {"enabled": False}}, st, clock)
    assert not fast_complete(f, 1, ids=3, spi=3)  # the shared counter is awaited
    assert not fast_complete(f, 2, ids=3, spi=3)
    assert list(counted.values()) == [6] and not f.book.counts  # counted once each, in the store only
    assert f.engine.subjects[("consumer", "alice")].total == 2


def test_on_complete_ignores_what_complete_now_left_for_another_exchange() -> None:
    now = time.time()
    clock = FakeClock(now - now % 60 + 1)
    st = stores()
    f = make({"budgets": [{"category": "identifiers", "limit": 5, "per": 60}],
              "scraping": {"enabled": False}, "exfiltration": {"enabled": False}}, st, clock)  # fmt: skip
    ex1 = make_exchange(make_request("GET", "/v1/customers/1"), route=ROUTE)
    ex1.params, ex1.identity, ex1.response = {"id": "1"}, ALICE, make_response(200)
    annotate(ex1, 6)
    assert f.complete_now(ex1) is False and f._now.pending is not None  # its budget alert waits
    complete(f, 2, ids=1)  # another exchange's on_complete: observed afresh, the stale hand-over dropped
    assert f._now.pending is None and f.engine.subjects[("consumer", "alice")].total == 2
    assert asyncio.run(st.alerts.list()) == []  # ex1's on_complete never ran: nothing stored twice or mixed up
