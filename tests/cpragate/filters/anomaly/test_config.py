"""The anomaly config: documented defaults, refused mistakes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpragate.filters.anomaly.config import AnomalyConfig


def test_defaults_are_off_and_documented() -> None:
    c = AnomalyConfig()
    assert c.enabled is False
    assert (c.scraping.window, c.scraping.floor, c.scraping.response) == (60.0, 100, "throttle")
    assert c.enumeration.response == "block" and c.credentials.response == "block"
    assert c.exfiltration.response == "none" and c.unusual.response == "none"
    for name, field in AnomalyConfig.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"scraping": {"window": 1}}, "window"),
        ({"scraping": {"response": "ban"}}, "response"),
        ({"scraping": {"colour": 1}}, "colour"),
        ({"budgets": [{"category": "spi"}]}, "limit"),
        ({"budgets": [{"category": "emails", "limit": 5}]}, "use spi or one of: biometric"),
        ({"budgets": [{"category": "spi", "limit": 1}, {"category": "spi", "limit": 2}]}, "merge them"),
        ({"webhooks": [{"url": "ftp://x", "secret": "s" * 32}]}, "http:// or https://"),
        ({"webhooks": [{"url": "https://x", "secret": "short"}]}, "at least 16"),
    ],
)
def test_bad_configs_name_the_problem(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as e:
        AnomalyConfig.model_validate(data)
    assert needle in str(e.value)


def test_webhook_secret_is_not_echoed() -> None:
    c = AnomalyConfig.model_validate({"webhooks": [{"url": "https://hooks.example/x", "secret": "s3cr3t-value-0123456789"}]})
    assert "s3cr3t" not in repr(c) and "s3cr3t" not in str(c.model_dump())
