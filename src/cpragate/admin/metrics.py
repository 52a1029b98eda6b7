"""Prometheus collectors and the text exposition format (version 0.0.4), hand-written.

Why not ``prometheus_client``: its ``labels(...).observe()`` takes a lock and walks a
child registry per observation (≈ 1.5–3 µs per labelled call measured on this machine,
bench/filter_costs.py); the metrics observer makes four such calls per exchange. These
collectors are plain dicts keyed by label tuples, touched only from the event loop
thread (one worker = one thread), so an observation is a dict look-up and two
increments (≈ 0.3 µs), and the exposition is built only when ``/metrics`` is scraped.

Rules: label values are bounded by construction (route names from the config, status
codes, error codes, CPRA categories, detector names); a collector refuses new label sets
beyond ``max_series`` (counted in ``cpragate_metrics_dropped_series_total``) so a bug can
never grow memory without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["DEFAULT_BUCKETS", "Cell", "Counter", "Gauge", "Histogram", "Metrics", "Timeline", "escape_label"]

DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(v: float) -> str:
    if v == float("inf"):
        return "+Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


class _Collector:
    kind = "untyped"

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...] = (), max_series: int = 10_000) -> None:
        self.name = name
        self.help = help
        self.labelnames = labelnames
        self.max_series = max_series
        self.dropped = 0

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Cell:
    """The count of one label set of a :class:`Counter`."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Counter(_Collector):
    """A monotonically increasing count per label set.

    Each label set's count is a :class:`Cell`; a caller that observes the same label sets
    over and over (the metrics observer, per route) keeps the cells from :meth:`cell` and
    adds to them, instead of hashing a label tuple twice per observation.
    """

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...] = (), max_series: int = 10_000) -> None:
        super().__init__(name, help, labelnames, max_series)
        self.cells: dict[tuple[str, ...], Cell] = {}

    @property
    def values(self) -> dict[tuple[str, ...], float]:
        """Label set -> count (a copy, made when read: scrapes and the admin API)."""
        return {k: c.value for k, c in self.cells.items()}

    def cell(self, labels: tuple[str, ...]) -> Cell | None:
        """The cell of ``labels``, created on first use; None (counted as dropped) when
        the collector is at ``max_series``. Never keep a None: ask again per observation."""
        c = self.cells.get(labels)
        if c is None:
            if len(self.cells) >= self.max_series:
                self.dropped += 1
                return None
            c = self.cells[labels] = Cell()
        return c

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        c = self.cells.get(labels)
        if c is None:
            c = self.cell(labels)
            if c is None:
                return
        c.value += amount

    def get(self, labels: tuple[str, ...] = ()) -> float:
        c = self.cells.get(labels)
        return c.value if c is not None else 0.0

    def render(self) -> list[str]:
        out = self.header()
        for labels, v in sorted(self.values.items()):
            out.append(f"{self.name}{_labels(self.labelnames, labels)} {_num(v)}")
        return out


class Gauge(_Collector):
    """A value read at scrape time from a callback returning ``{label tuple: value}``."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: tuple[str, ...] = (),
        read: Callable[[], dict[tuple[str, ...], float]] | None = None,
    ) -> None:
        super().__init__(name, help, labelnames)
        self.values: dict[tuple[str, ...], float] = {}
        self.read = read

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.values[labels] = value

    def render(self) -> list[str]:
        values = self.read() if self.read is not None else self.values
        out = self.header()
        for labels, v in sorted(values.items()):
            out.append(f"{self.name}{_labels(self.labelnames, labels)} {_num(v)}")
        return out


class Histogram(_Collector):
    """Observations in fixed buckets per label set (cumulated only when rendered)."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
        max_series: int = 10_000,
    ) -> None:
        super().__init__(name, help, labelnames, max_series)
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be sorted and not empty")
        self.buckets = tuple(buckets)
        self.series: dict[tuple[str, ...], list[float]] = {}
        """Per label set: one count per bucket, then +Inf, then the sum."""

    def series_of(self, labels: tuple[str, ...]) -> list[float] | None:
        """The series of ``labels`` (for :meth:`add`), created on first use; None (counted
        as dropped) at ``max_series``. Never keep a None: ask again per observation."""
        s = self.series.get(labels)
        if s is None:
            if len(self.series) >= self.max_series:
                self.dropped += 1
                return None
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        return s

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series_of(labels)
            if s is None:
                return
        self.add(s, value)

    def add(self, s: list[float], value: float) -> None:
        """One observation into the series ``s`` of this histogram (from :meth:`series_of`)."""
        # bisect_left by hand: a native loop over a dozen floats beats a call into the
        # bisect module from compiled code (cpragate/_accel.py)
        # (the same comparison as bisect_left, so a NaN lands where bisect puts it)
        i = 0
        for b in self.buckets:
            if b < value:
                i += 1
            else:
                break
        s[i] += 1
        s[-1] += value

    def count(self, labels: tuple[str, ...]) -> int:
        s = self.series.get(labels)
        return int(sum(s[:-1])) if s is not None else 0

    def render(self) -> list[str]:
        out = self.header()
        names = self.labelnames
        for labels, s in sorted(self.series.items()):
            cum = 0.0
            for b, n in zip((*self.buckets, float("inf")), s[:-1], strict=True):
                cum += n
                le = 'le="' + _num(b) + '"'
                out.append(f"{self.name}_bucket{_labels(names, labels, le)} {_num(cum)}")
            out.append(f"{self.name}_sum{_labels(names, labels)} {_num(s[-1])}")
            out.append(f"{self.name}_count{_labels(names, labels)} {_num(cum)}")
        return out


class Timeline:
    """Requests and refusals per ``step`` seconds over the last ``size`` steps (the
    dashboard's charts): a ring of counters indexed by wall-clock step."""

    __slots__ = ("denials", "requests", "size", "slots", "step")

    def __init__(self, step: float = 10.0, size: int = 360) -> None:
        self.step = step
        self.size = size
        self.slots = [-1] * size
        """The step number each ring position currently holds."""
        self.requests = [0] * size
        self.denials = [0] * size

    def add(self, now: float, denied: bool) -> None:
        n = int(now // self.step)
        i = n % self.size
        if self.slots[i] != n:
            self.slots[i] = n
            self.requests[i] = 0
            self.denials[i] = 0
        self.requests[i] += 1
        if denied:
            self.denials[i] += 1

    def points(self, now: float) -> list[tuple[float, int, int]]:
        """(step start, requests, denials) for each step of the window, oldest first."""
        last = int(now // self.step)
        out = []
        for n in range(last - self.size + 1, last + 1):
            i = n % self.size
            hit = self.slots[i] == n
            out.append((n * self.step, self.requests[i] if hit else 0, self.denials[i] if hit else 0))
        return out


class Metrics:
    """The gateway's collectors (one per process, kept in ``stores.metrics`` across reloads).

    The metrics observer (filters/metrics) feeds the per-exchange ones; the scrape adds
    what it reads from the stores (audit spool, alerts, blocks, inventory) through
    ``readers`` so nothing is polled between scrapes.
    """

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.requests = Counter(
            "cpragate_requests_total", "Requests answered, by route, method and status.", ("route", "method", "status")
        )
        self.latency = Histogram(
            "cpragate_request_duration_seconds",
            "Time from the request head to the end of the response, by route and status.",
            ("route", "status"),
            buckets,
        )
        self.denials = Counter(
            "cpragate_denials_total",
            "Requests refused by the gateway, by reason (error code) and the filter that decided.",
            ("code", "filter"),
        )
        self.pi_served = Counter(
            "cpragate_pi_served_total",
            "Personal-information findings in responses served, by CPRA category.",
            ("category",),
        )
        self.spi_served = Counter(
            "cpragate_spi_served_total", "Sensitive personal-information findings in responses served, by route.", ("route",)
        )
        self.bytes_out = Counter("cpragate_response_bytes_total", "Response body bytes sent, by route.", ("route",))
        self.timeline = Timeline()
        self.tracer: Any = None
        """An OpenTelemetry tracer when tracing is configured (admin/tracing.py), else None."""
        self.gauges: list[Gauge] = []

    def add_gauge(self, gauge: Gauge) -> Gauge:
        """Register (or replace, by name) a gauge read at scrape time."""
        self.gauges = [g for g in self.gauges if g.name != gauge.name] + [gauge]
        return gauge

    @property
    def collectors(self) -> list[_Collector]:
        return [self.requests, self.latency, self.denials, self.pi_served, self.spi_served, self.bytes_out]

    def render(self, extra: Iterable[_Collector] = ()) -> str:
        """The text exposition of every collector (``extra`` for per-scrape gauges)."""
        lines: list[str] = []
        dropped = 0
        for c in [*self.collectors, *self.gauges, *extra]:
            try:
                lines.extend(c.render())
            except Exception:  # a broken reader must not take the scrape down
                lines.append(f"# {c.name}: could not be read")
            dropped += c.dropped
        lines += [
            "# HELP cpragate_metrics_dropped_series_total Label sets refused because a collector reached its series limit.",
            "# TYPE cpragate_metrics_dropped_series_total counter",
            f"cpragate_metrics_dropped_series_total {dropped}",
        ]
        return "\n".join(lines) + "\n"
