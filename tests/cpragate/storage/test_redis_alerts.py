"""Redis alert/block specifics that need no server; the behaviour runs in tests/contract/test_alerts.py."""

from cpragate.storage.alerts import Alert, Block
from cpragate.storage.redis_alerts import alert_from_json, block_from_json


def test_block_json_round_trip() -> None:
    b = Block("ip", "198.51.100.1", "block", "credentials: 40 failures", 10.0, 610.0, alert_id="al-1", lifted_by=None)
    assert block_from_json(b.to_json()) == b


def test_alert_json_round_trip() -> None:
    a = Alert("al-1", "scraping", "high", "consumer", "alice", "alice received 300 subjects", 5.0, {"threshold": 100})
    assert alert_from_json(a.to_json()) == a
