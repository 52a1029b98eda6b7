from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpragate.filters.metrics.config import MetricsConfig, TracingConfig


def test_defaults() -> None:
    c = MetricsConfig()
    assert c.enabled is False and c.tracing.enabled is False and c.buckets[0] == 0.0005


@pytest.mark.parametrize("buckets", [[1.0, 0.5], [0.0, 1.0], [0.1, 0.1], []])
def test_bad_buckets(buckets: list[float]) -> None:
    with pytest.raises(ValidationError):
        MetricsConfig.model_validate({"buckets": buckets})


def test_tracing_sample_ratio_bounds() -> None:
    with pytest.raises(ValidationError):
        TracingConfig.model_validate({"sample_ratio": 1.5})
    assert TracingConfig.model_validate({"enabled": True, "exporter": "console"}).exporter == "console"
