import pytest
from pydantic import ValidationError

from cpragate.filters.security_headers import SecurityHeadersConfig


def test_defaults_and_validation() -> None:
    c = SecurityHeadersConfig()
    assert c.enabled and "server" in c.remove_headers
    with pytest.raises(ValidationError):
        SecurityHeadersConfig(hsts_max_age=-1)
    with pytest.raises(ValidationError):
        SecurityHeadersConfig.model_validate({"unknown": True})
