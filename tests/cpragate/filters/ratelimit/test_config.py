import pytest
from pydantic import ValidationError

from cpragate.filters.ratelimit.config import Limit, RateLimitConfig


def test_limit_math() -> None:
    assert Limit(rate=10, per=1).interval == 0.1 and Limit(rate=10).capacity == 10
    assert Limit(rate=60, per=60, burst=5).capacity == 5


@pytest.mark.parametrize("bad", [{"rate": 0}, {"rate": 1, "per": 0}, {"rate": 1, "burst": 0}, {"rate": 1, "extra": 1}])
def test_bad_limits(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Limit.model_validate(bad)


def test_defaults() -> None:
    c = RateLimitConfig()
    assert c.on_error == "deny" and c.per_worker is False and c.headers and c.per_ip is None
