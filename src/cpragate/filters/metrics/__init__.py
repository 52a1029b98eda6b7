"""Prometheus metrics (and OpenTelemetry spans when configured) from every exchange."""
