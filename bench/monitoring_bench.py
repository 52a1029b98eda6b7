"""What the monitoring observers cost per exchange, in CPU-µs, without sockets.

* the inventory's complete phase on a routed exchange (template from the route), on a
  wildcard route and on an unrouted path (both templated: ids, UUIDs, e-mails);
* the metrics observer's complete phase, against the same four observations made with
  ``prometheus_client`` (when installed; it is not a dependency: this is why);
* tracing off (one attribute check) and on (an SDK span per exchange, in-memory export).

    .venv/bin/python bench/monitoring_bench.py            # ~10 s
    .venv/bin/python bench/monitoring_bench.py --quick    # CI: a few hundred iterations
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from cpragate.core.access import Identity
from cpragate.core.clock import SystemClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.filters.inventory.config import InventoryConfig
from cpragate.filters.inventory.filter import InventoryFilter
from cpragate.filters.metrics.config import MetricsConfig, TracingConfig
from cpragate.filters.metrics.filter import MetricsFilter
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

ROUTE = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")
WILD = RouteInfo("files", "/files/**", ("GET",), "api")
WHO = Identity("support-app", "service_provider", "api_key", "cpg_x")


def step(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("an observer suspended")


def cost(run: Callable[[Exchange], None], make: Callable[[int], Exchange], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        batch = [make(i) for i in range(n)]
        t = time.process_time()
        for ex in batch:
            run(ex)
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best


def exchange(path: str, route: RouteInfo | None, status: int = 200) -> Exchange:
    ex = make_exchange(make_request("GET", path), route=route)
    ex.response = make_response(status)
    ex.outcome = "served" if status < 400 else "denied"
    ex.identity = WHO
    ex.started = time.monotonic()
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "mask", 1)
    ann.add("email", "identifiers", False, "allow", 2)
    ann.add("geolocation", "geolocation", True, "mask", 1)
    ex.pii = ann
    return ex


def main(quick: bool) -> int:
    n, rounds = (300, 2) if quick else (20_000, 5)
    ctx = FilterContext(clock=SystemClock())
    inv = InventoryFilter(InventoryConfig(enabled=True), ctx)
    met = MetricsFilter(MetricsConfig(enabled=True), ctx)
    rows: list[tuple[str, float]] = []
    rows.append(("inventory, routed (template from the route)",
                 cost(lambda ex: step(inv.on_complete(ex)), lambda i: exchange(f"/v1/customers/{i}", ROUTE), n, rounds)))
    rows.append(("inventory, wildcard route /files/** (UUID templated)",
                 cost(lambda ex: step(inv.on_complete(ex)),
                      lambda i: exchange(f"/files/550e8400-e29b-41d4-a716-{i:012d}/raw", WILD), n, rounds)))
    rows.append(("inventory, unrouted /v1/users/{email}/orders/{id}",
                 cost(lambda ex: step(inv.on_complete(ex)),
                      lambda i: exchange(f"/v1/users/u{i}@example.com/orders/{i}", None, 404), n, rounds)))
    rows.append(("metrics observer (4 collectors + timeline), tracing off",
                 cost(lambda ex: step(met.on_complete(ex)), lambda i: exchange(f"/v1/customers/{i}", ROUTE), n, rounds)))
    try:
        import prometheus_client as pc

        reg = pc.CollectorRegistry()
        req = pc.Counter("r_total", "r", ("route", "method", "status"), registry=reg)
        lat = pc.Histogram("l_seconds", "l", ("route", "status"), registry=reg)
        pi = pc.Counter("p_total", "p", ("category",), registry=reg)
        spi = pc.Counter("s_total", "s", ("route",), registry=reg)

        def prom(ex: Exchange) -> None:
            req.labels("getCustomer", "GET", "200").inc()
            lat.labels("getCustomer", "200").observe(0.004)
            for c, k in (ex.pii.categories if ex.pii else {}).items():
                pi.labels(c).inc(k)
            spi.labels("getCustomer").inc(2)

        rows.append((f"same observations with prometheus_client {pc.__version__ if hasattr(pc, '__version__') else ''}".rstrip(),
                     cost(prom, lambda i: exchange(f"/v1/customers/{i}", ROUTE), n, rounds)))
    except ImportError:
        rows.append(("prometheus_client (not installed: skipped)", float("nan")))
    try:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from cpragate.admin.tracing import start_tracing

        exporter = InMemorySpanExporter()
        traced = MetricsFilter(MetricsConfig(enabled=True), FilterContext(clock=SystemClock()))
        traced.metrics.tracer = start_tracing(TracingConfig(enabled=True), exporter=exporter)

        def run_traced(ex: Exchange) -> None:
            step(traced.on_complete(ex))

        rows.append(("metrics observer, tracing on (SDK span, in-memory export)",
                     cost(run_traced, lambda i: exchange(f"/v1/customers/{i}", ROUTE), n, rounds)))
        exporter.clear()
    except ImportError:
        rows.append(("tracing (opentelemetry-sdk not installed: skipped)", float("nan")))
    print(f"# monitoring observers, CPU-µs per exchange, best of {rounds} x {n}")
    print("| observer | CPU-µs |")
    print("|---|---:|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few hundred iterations (CI)")
    sys.exit(main(ap.parse_args().quick))
