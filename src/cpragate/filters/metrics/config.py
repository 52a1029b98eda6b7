"""Config of the metrics observer (``filters.metrics``) and of tracing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cpragate.core.filter import FilterConfig

__all__ = ["MetricsConfig", "TracingConfig"]


class TracingConfig(FilterConfig):
    """OpenTelemetry tracing: one span per exchange, parented on the client's `traceparent`."""

    enabled: bool = Field(False, description="Export a span per exchange (needs the `opentelemetry-sdk` package). Off: no cost.")
    service_name: str = Field("cpragate", description="The `service.name` resource attribute of the spans.")
    exporter: Literal["otlp", "console"] = Field(
        "otlp",
        description="Where spans go: `otlp` (OTLP/HTTP, needs `opentelemetry-exporter-otlp-proto-http`; "
        "endpoint from OTEL_EXPORTER_OTLP_ENDPOINT) or `console` (stdout, for trying it out).",
    )
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Share of exchanges traced (parent-based ratio sampler).")


class MetricsConfig(FilterConfig):
    """Request, latency, denial and personal-information metrics for `/metrics`."""

    enabled: bool = Field(
        False, description="Count every exchange for `/metrics`. On by default when the `admin` listener is configured."
    )
    buckets: list[float] = Field(
        default_factory=lambda: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        min_length=1,
        max_length=40,
        description="Upper bounds (seconds) of the latency histogram buckets, ascending.",
    )
    tracing: TracingConfig = Field(default_factory=TracingConfig, description="OpenTelemetry tracing (off by default).")

    @field_validator("buckets")
    @classmethod
    def _sorted(cls, v: list[float]) -> list[float]:
        if v != sorted(set(v)) or v[0] <= 0:
            raise ValueError("buckets must be positive, ascending and distinct, e.g. [0.005, 0.05, 0.5]")
        return v
