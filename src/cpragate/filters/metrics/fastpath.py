"""The metrics observer's per-exchange work, compiled with mypyc (cpragate/_accel.py; this
source runs as is when the build is missing or stale).

Every exchange of every route goes through it, so what it adds to is found once per
route, status and method (:class:`_RouteKeys`): the counters' cells and the histogram's
series (admin/metrics.py, same compiled group), not a label tuple built and hashed twice
per observation. A collector at its series limit hands out no cell: that observation is
counted as dropped, as ``inc`` would, and asked again the next time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cpragate.admin.metrics import Cell, Counter, Histogram, Metrics
from cpragate.core.exchange import Exchange

__all__ = ["UNROUTED", "MetricsFast"]

UNROUTED: Final = "(unrouted)"
_MAX_KEYS: Final = 4096
"""Cached label sets per route (status x method); beyond it they are made per exchange."""


class _RouteKeys:
    """What one route name's observations add to, found once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.one: tuple[str, ...] = (name,)
        self.latency: dict[int, list[float]] = {}
        """status code -> its latency series"""
        self.requests: dict[str, dict[int, Cell]] = {}
        """method -> status code -> its request count"""
        self.bytes: Cell | None = None
        self.spi: Cell | None = None


def _cell(counter: Counter, cache: dict[int, Cell], key: int, labels: tuple[str, ...]) -> Cell | None:
    c = counter.cell(labels)
    if c is not None:
        if len(cache) >= _MAX_KEYS:
            cache.clear()
        cache[key] = c
    return c


class MetricsFast:
    """Feeds the collectors from one completed exchange (the filter's ``on_complete``)."""

    def __init__(self, metrics: Metrics, time: Callable[[], float], mono: Callable[[], float]) -> None:
        self.metrics = metrics
        self.time = time
        self.mono = mono
        self.status: dict[int, str] = {}
        self.routes: dict[str, _RouteKeys] = {}
        self.categories: dict[str, Cell] = {}
        """CPRA category -> its count of PI served"""

    def _keys(self, rname: str) -> _RouteKeys:
        rk = self.routes.get(rname)
        if rk is None:
            if len(self.routes) >= _MAX_KEYS:
                self.routes.clear()
            rk = self.routes[rname] = _RouteKeys(rname)
        return rk

    def _status(self, code: int) -> str:
        status = self.status.get(code)
        if status is None:
            if len(self.status) >= _MAX_KEYS:
                self.status.clear()
            status = self.status[code] = str(code)
        return status

    def complete_now(self, exchange: Exchange) -> bool:
        """The filter's ``complete_now`` (bound on it): the whole phase, never an await."""
        self.complete(exchange)
        return True

    def complete(self, exchange: Exchange) -> None:
        m = self.metrics
        route = exchange.route
        rk = self._keys(route.name if route is not None else UNROUTED)
        resp = exchange.response
        code = resp.status if resp is not None else 0
        method = exchange.request.method
        by_code = rk.requests.get(method)
        if by_code is None:
            if len(rk.requests) >= _MAX_KEYS:
                rk.requests.clear()
            by_code = rk.requests[method] = {}
        rq = by_code.get(code)
        if rq is None:
            rq = _cell(m.requests, by_code, code, (rk.name, method, self._status(code)))
        if rq is not None:
            rq.value += 1.0
        started = exchange.started
        now = self.mono()
        elapsed = now - started if started and now >= started else 0.0
        lat = rk.latency.get(code)
        hist: Histogram = m.latency
        if lat is None:
            lat = hist.series_of((rk.name, self._status(code)))
            if lat is not None:
                if len(rk.latency) >= _MAX_KEYS:
                    rk.latency.clear()
                rk.latency[code] = lat
        if lat is not None:
            hist.add(lat, elapsed)
        nbytes = exchange.bytes_out
        if nbytes:
            b = rk.bytes
            if b is None:
                b = rk.bytes = m.bytes_out.cell(rk.one)
            if b is not None:
                b.value += nbytes
        served = exchange.outcome == "served"
        m.timeline.add(self.time(), not served)
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
                cats: dict[str, int] | None = getattr(pii, "categories", None)  # typed: walked natively
                if cats:
                    served_c = m.pi_served
                    cells = self.categories
                    for c, n in cats.items():
                        cell = cells.get(c)
                        if cell is None:
                            cell = served_c.cell((c,))
                            if cell is not None:
                                if len(cells) >= _MAX_KEYS:
                                    cells.clear()
                                cells[c] = cell
                        if cell is not None:
                            cell.value += n
                    spi: int = getattr(pii, "spi", 0)
                    if spi:
                        sc = rk.spi
                        if sc is None:
                            sc = rk.spi = m.spi_served.cell(rk.one)
                        if sc is not None:
                            sc.value += spi
        tracer = m.tracer
        if tracer is not None:
            end = int(self.time() * 1e9)  # wall clock: spans carry epoch nanoseconds
            tracer.record(exchange, end - round(elapsed * 1e9), end)
