"""The replay generator and judge, on a small run (the full run is bench/ANOMALY_RESULTS.md)."""

from __future__ import annotations

from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.replay import _EPOCH, DAY, AttackResult, _Sim, run_replay


def test_small_replay_detects_every_attack_kind() -> None:
    r = run_replay(benign_target=20_000, consumers=60, days=1.5, per_kind=1, seed=3)
    assert r.benign == 20_000
    assert {a.kind for a in r.attacks} == {
        "scraping", "enumeration", "credential_stuffing", "brute_force", "exfiltration", "unusual",
    }  # fmt: skip
    assert all(a.onset >= _EPOCH + DAY for a in r.attacks)  # after the learning day
    assert all(a.requests > 0 for a in r.attacks)
    missed = [a.kind for a in r.attacks if a.delay is None]
    assert missed == []
    assert all(a.delay is not None and 0 <= a.delay for a in r.attacks)
    assert "benign requests" in r.summary_line()
    j = r.to_json()
    assert j["benign_requests"] == 20_000 and len(j["attacks"]) == 6


def test_a_disabled_detector_misses_its_attacks() -> None:
    cfg = AnomalyConfig.model_validate({"enabled": True, "credentials": {"enabled": False}})
    r = run_replay(benign_target=5_000, consumers=20, days=1.5, per_kind=1, seed=4, cfg=cfg)
    missed = {a.kind for a in r.attacks if a.delay is None}
    assert {"credential_stuffing", "brute_force"} <= missed
    assert r.max_delay is None and "MISSED" in r.summary_line()


def test_daily_pattern() -> None:
    sim = _Sim(1, 20, AnomalyConfig(enabled=True))
    office = next(c for c in sim.consumers if c.office)
    always = next(c for c in sim.consumers if not c.office)
    assert sim.shape(office, _EPOCH + 3 * 3600) == 0.0  # 03:00
    assert sim.shape(office, _EPOCH + 10 * 3600) == 1.0
    assert 0.3 <= sim.shape(always, _EPOCH + 3 * 3600) < sim.shape(always, _EPOCH + 15 * 3600)
    t = _EPOCH + 21 * 3600
    nxt = sim.next_time(office, t)
    assert ((nxt - _EPOCH) % DAY) / 3600 >= 7.0


def test_attack_delay() -> None:
    a = AttackResult("scraping", "x", 100.0, 600.0, 10)
    assert a.delay is None
    a.detected_at = 112.5
    assert a.delay == 12.5
