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
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.filters.metrics.config import MetricsConfig

__all__ = ["UNROUTED", "MetricsFilter", "metrics_of"]

UNROUTED = "(unrouted)"


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
        self.metrics = m = metrics_of(ctx, config)
        self._requests = m.requests.inc
        self._latency = m.latency.observe
        self._bytes = m.bytes_out.inc
        self._mono = ctx.clock.monotonic
        self._time = ctx.clock.time
        self._status: dict[int, str] = {}

    async def on_complete(self, exchange: Exchange) -> None:
        route = exchange.route
        rname = route.name if route is not None else UNROUTED
        resp = exchange.response
        code = resp.status if resp is not None else 0
        status = self._status.get(code)
        if status is None:
            status = self._status[code] = str(code)
        self._requests((rname, exchange.request.method, status))
        started = exchange.started
        now = self._mono()
        elapsed = now - started if started and now >= started else 0.0
        self._latency((rname, status), elapsed)
        if exchange.bytes_out:
            self._bytes((rname,), exchange.bytes_out)
        m = self.metrics
        served = exchange.outcome == "served"
        m.timeline.add(self._time(), not served)
        if not served:
            decider = "gateway"
            for d in exchange.decisions:
                if d.outcome in ("deny", "respond", "error"):
                    decider = d.filter
                    break
            m.denials.inc((exchange.error_code or exchange.outcome, decider))
        else:
            pii = exchange.pii
            if pii is not None:
                cats = getattr(pii, "categories", None)
                if cats:
                    inc = m.pi_served.inc
                    for c, n in cats.items():
                        inc((c,), n)
                    spi = getattr(pii, "spi", 0)
                    if spi:
                        m.spi_served.inc((rname,), spi)
        tracer = m.tracer
        if tracer is not None:
            end = int(self._time() * 1e9)  # wall clock: spans carry epoch nanoseconds
            tracer.record(exchange, end - round(elapsed * 1e9), end)
