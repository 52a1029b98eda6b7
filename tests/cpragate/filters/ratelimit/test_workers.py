import pytest

from cpragate.config import load_config_text
from cpragate.errors import SharedStateRequired
from cpragate.filters.ratelimit.workers import require_shared_state, shared_state_problems

BASE = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "https://api.internal"}}
routes: [{path: /x, upstream: o, authz: {served_ids: {namespace: c, require: path.id}}}]
"""


def test_memory_state_refused_with_workers() -> None:
    cfg = load_config_text(BASE + "filters: {ratelimit: {per_consumer: {rate: 10}}}\n")
    assert shared_state_problems(cfg, 1) == []
    probs = shared_state_problems(cfg, 2)
    assert len(probs) == 2 and "ratelimit" in probs[0] and "served ids" in probs[1]
    with pytest.raises(SharedStateRequired, match="CPG-RATE-003"):
        require_shared_state(cfg, 4)


def test_redis_or_per_worker_accepted() -> None:
    assert shared_state_problems(load_config_text(BASE + 'storage: {redis: "redis://127.0.0.1:6379/0"}\n'
                                                   "filters: {ratelimit: {per_consumer: {rate: 10}}}\n"), 2) == []
    cfg = load_config_text(BASE + "filters: {ratelimit: {per_consumer: {rate: 10}, per_worker: true}, authz: {per_worker: true}}\n")
    assert shared_state_problems(cfg, 2) == []


def test_detection_needs_shared_state_with_workers() -> None:
    on = load_config_text(BASE.replace(", authz: {served_ids: {namespace: c, require: path.id}}", "")
                          + "filters: {anomaly: {enabled: true}}\n")
    probs = shared_state_problems(on, 2)
    assert len(probs) == 1 and "filters.anomaly" in probs[0]
    per_worker = load_config_text(BASE.replace(", authz: {served_ids: {namespace: c, require: path.id}}", "")
                                  + "filters: {anomaly: {enabled: true, per_worker: true}}\n")
    assert shared_state_problems(per_worker, 2) == []
