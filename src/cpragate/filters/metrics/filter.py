"""The metrics observer: last in the complete phase, it counts every exchange.

Requests by route/method/status, latency by route/status, refusals by error code and
deciding filter, personal-information findings served by CPRA category, SPI by route.
Unrouted exchanges count under route ``(unrouted)``. When tracing is configured the
same exchange becomes an OpenTelemetry span (``metrics.tracer``); otherwise that costs
one attribute check.
"""

from __future__ import annotations

from typing import ClassVar

from cpragate.admin.metrics import Metrics
from cpragate.core.clock import readers
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.filters.metrics.config import MetricsConfig
from cpragate.filters.metrics.fastpath import UNROUTED, MetricsFast

__all__ = ["UNROUTED", "MetricsFilter", "metrics_of"]


def metrics_of(ctx: FilterContext, cfg: MetricsConfig) -> Metrics:
    """The process's collectors: the ones in ``ctx.stores`` (created there on first use)."""
    stores = ctx.stores
    m = getattr(stores, "metrics", None) if stores is not None else None
    if not isinstance(m, Metrics) or list(m.latency.buckets) != cfg.buckets:
        old = m if isinstance(m, Metrics) else None
        m = Metrics(tuple(cfg.buckets))
        if old is not None:  # new buckets: keep the counters, restart the histogram
            m.requests, m.denials, m.pi_served, m.spi_served, m.bytes_out = (
                old.requests, old.denials, old.pi_served, old.spi_served, old.bytes_out,
            )
            m.tracer, m.gauges, m.timeline = old.tracer, old.gauges, old.timeline
        if stores is not None:
            stores.metrics = m
    return m


class MetricsFilter(Filter):
    """Feeds the Prometheus collectors (see the module docstring)."""

    name = "metrics"
    priority = 1
    complete_priority = 1
    Config: ClassVar[type[FilterConfig]] = MetricsConfig
    sees_unrouted: ClassVar[bool] = True
    sees_every_route: ClassVar[bool] = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        if not isinstance(config, MetricsConfig):
            raise TypeError("MetricsFilter needs a MetricsConfig")
        self.metrics = metrics_of(ctx, config)
        self._fast = MetricsFast(self.metrics, *readers(ctx.clock))
        """The per-exchange work (fastpath.py, compiled)."""
        self.complete_now = self._fast.complete_now  # type: ignore[method-assign]

    def complete_now(self, exchange: Exchange) -> bool:
        """The whole complete phase, synchronously (bound to fastpath.py in __init__: the
        pipeline calls the native method, no coroutine)."""
        return self._fast.complete_now(exchange)

    async def on_complete(self, exchange: Exchange) -> None:
        self._fast.complete(exchange)
