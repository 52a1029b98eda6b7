"""The WindowCounts Protocol (the Redis backend runs in tests/contract/test_alerts.py)."""

from cpragate.storage.redis_alerts import RedisWindowCounts
from cpragate.storage.windows import WindowCounts


class Partial:
    async def add_counts(self, items: list[tuple[str, int, float]]) -> list[int]:
        return [n for _, n, _ in items]


def test_protocol_needs_every_method() -> None:
    assert not isinstance(Partial(), WindowCounts)
    assert {"add_counts", "add_distinct", "claim"} <= set(dir(RedisWindowCounts))
