"""OpenTelemetry tracing: one SERVER span per exchange, made on the complete phase.

Off by default and then free: nothing here is imported, and the metrics observer checks
one attribute (``metrics.tracer is None``). When ``filters.metrics.tracing.enabled`` is
set, :func:`start_tracing` builds an SDK ``TracerProvider`` with a batch processor
(export happens on the SDK's own thread, never on the event loop) and the observer
hands each finished exchange to :meth:`ExchangeTracer.record`.

The span starts when the request head arrived and ends now; it is parented on the
client's W3C ``traceparent`` header when there is one, so the gateway's hop appears in
the caller's trace. Attributes follow the HTTP semantic conventions (method, route
template, status) plus ``cpragate.*`` (outcome, consumer name, error code, CPRA
categories served); never a path value, query, header value or body.
"""

from __future__ import annotations

from typing import Any

from cpragate.core.exchange import Exchange

__all__ = ["ExchangeTracer", "start_tracing"]


class ExchangeTracer:
    """Turns finished exchanges into spans on ``tracer`` (an OpenTelemetry Tracer)."""

    def __init__(self, tracer: Any, provider: Any = None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = tracer
        self.provider = provider
        self._kind = SpanKind.SERVER
        self._prop = TraceContextTextMapPropagator()
        self._error = Status(StatusCode.ERROR)

    def record(self, ex: Exchange, start_ns: int, end_ns: int) -> None:
        req = ex.request
        route = ex.route
        carrier = {}
        tp = req.headers.get(b"traceparent")
        if tp is not None:
            carrier["traceparent"] = tp.decode("latin-1")
            ts = req.headers.get(b"tracestate")
            if ts is not None:
                carrier["tracestate"] = ts.decode("latin-1")
        parent = self._prop.extract(carrier) if carrier else None
        template = route.template if route is not None else None
        attrs: dict[str, Any] = {
            "http.request.method": req.method,
            "url.scheme": ex.scheme,
            "cpragate.outcome": ex.outcome,
            "cpragate.request_id": ex.request_id,
        }
        if template is not None:
            attrs["http.route"] = template
        resp = ex.response
        if resp is not None:
            attrs["http.response.status_code"] = resp.status
        if ex.error_code:
            attrs["cpragate.error_code"] = ex.error_code
        ident = ex.identity
        if ident is not None:
            attrs["cpragate.consumer"] = ident.consumer
        pii = ex.pii
        cats = getattr(pii, "categories", None) if pii is not None else None
        if cats:
            attrs["cpragate.pi.categories"] = sorted(cats)
            attrs["cpragate.pi.spi_findings"] = int(getattr(pii, "spi", 0) or 0)
        name = f"{req.method} {template}" if template is not None else req.method
        span = self.tracer.start_span(name, context=parent, kind=self._kind, start_time=start_ns, attributes=attrs)
        if resp is None or resp.status >= 500 or ex.outcome in ("error", "aborted"):
            span.set_status(self._error)
        span.end(end_time=end_ns)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def start_tracing(cfg: Any, exporter: Any = None) -> ExchangeTracer:
    """An ExchangeTracer for ``cfg`` (a ``TracingConfig``); ``exporter`` overrides the
    configured one (tests pass an ``InMemorySpanExporter``, exported synchronously)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": cfg.service_name}),
        sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        if cfg.exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exp: Any = ConsoleSpanExporter()
        else:
            from cpragate.errors import AdminConfigError

            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter,
                )
            except ImportError:
                raise AdminConfigError(
                    "filters.metrics.tracing.exporter is otlp but the OTLP exporter is not installed.",
                    fix="pip install opentelemetry-exporter-otlp-proto-http, or set exporter: console.",
                ) from None
            exp = OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exp))
    return ExchangeTracer(provider.get_tracer("cpragate"), provider)
