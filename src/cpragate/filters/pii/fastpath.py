"""The pii filter's per-response work, compiled with mypyc (group ``pii`` in cpragate/_accel.py;
this source runs as is when the build is missing or stale, or with ``CPRAGATE_PURE=1``).

Why: :class:`~cpragate.filters.pii.filter.PiiFilter` inherits the interpreted ``Filter``
base, so its own code around the engine (the route's plan, the Content-Type, the rules
for the caller, the body's parse and write-back, the counts and the decision) ran
interpreted: ~50-60k instructions of the ~326k a 1 KB customer page cost
(bench/pii_filter_callgrind.py). Here it is plain functions and native classes that call
the engine (same group) natively.

* :class:`Plan`: a route's settings, resolved once per route (route settings over the
  filter's); the filter keeps one per route.
* :func:`media`: (kind, charset) of a Content-Type, cached per header value.
* :class:`Fast`: the plans per route, and :meth:`Fast.respond`: ``on_response`` for a
  buffered body declared JSON (the common case; bound as the filter's ``response_now``),
  or None for every other case, which the filter's Python handles (having changed
  nothing, so the data plane then awaits ``on_response``).
* :func:`summary`, :func:`rewrote`: the decision text and "did an action change the body".

Rules as in filter.py: nothing here logs, records or raises with a value from a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from cpragate.core.exchange import Exchange
from cpragate.core.jsonbody import response_json, set_response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import PiiResponseBlocked
from cpragate.filters.pii.config import PiiFilterConfig, PiiRouteSettings
from cpragate.pii import ActionRules, Annotations, Engine

__all__ = [
    "FORM",
    "JSON",
    "NDJSON",
    "SNIFF",
    "TEXT",
    "Fast",
    "Plan",
    "may_round",
    "media",
    "media_type",
    "passes",
    "rewrote",
    "route_settings",
    "summary",
    "summary_py",
]

try:
    # summary() in C (cpragate.pii._cscan, built from _cscan.c), loaded by cpragate._accel only
    # while it matches its source; otherwise (not built, stale, CPRAGATE_PURE=1) summary_py.
    from cpragate.pii import _cscan

    _native_summary: Callable[[dict[str, int], int, dict[str, int]], str] | None = _cscan.summary
    # may_round() in C likewise (~2.5k instructions per KB compiled, ~0.2k in C).
    _native_may_round: Callable[[bytes], bool] | None = _cscan.may_round
except ImportError:
    _native_summary = None
    _native_may_round = None

JSON: Final = 1
TEXT: Final = 2
SNIFF: Final = 3
NDJSON: Final = 4
FORM: Final = 5
_NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
_ANNOTATE: Final = "annotate"
_MEDIA_MAX: Final = 256
_NAME: Final = "pii"


def route_settings(route: RouteInfo | None) -> PiiRouteSettings | None:
    """The route's own pii settings (``settings.pii``), or None."""
    settings = route.settings if route is not None else None
    s = getattr(settings, "pii", None)
    return s if isinstance(s, PiiRouteSettings) else None


def media_type(content_type: bytes) -> str:
    return content_type.split(b";", 1)[0].strip().lower().decode("latin-1")


def _media(content_type: bytes) -> tuple[int, str] | None:
    mt, _, params = content_type.decode("latin-1").partition(";")
    mt = mt.strip().lower()
    if mt == "application/json" or mt.endswith("+json"):
        # RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
        return JSON, "utf-8"
    if mt in _NDJSON_TYPES:
        return NDJSON, "utf-8"
    if mt.startswith("text/") or mt == "application/xml" or mt.endswith("+xml"):
        kind = TEXT
    elif mt == "application/x-www-form-urlencoded":
        kind = FORM
    else:
        return None
    charset = "utf-8"
    for p in params.split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            charset = v.strip().strip('"').lower()
    return kind, charset


_media_cache: dict[bytes, tuple[int, str] | None] = {}


def media(content_type: bytes | None) -> tuple[int, str] | None:
    """(kind, charset) of a Content-Type the filter reads, or None when it cannot read it.

    A pure function of the header's bytes, so the answer is cached per value (bounded):
    an API sends the same few Content-Types again and again.
    """
    if content_type is None:
        return SNIFF, "utf-8"
    cache = _media_cache
    if content_type in cache:
        return cache[content_type]
    m = _media(content_type)
    if len(cache) >= _MEDIA_MAX:
        cache.clear()
    cache[content_type] = m
    return m


def passes(content_type: bytes | None, pass_types: tuple[str, ...]) -> str | None:
    """The media type when ``pass_types`` lists it (or its range), else None."""
    if content_type is None or not pass_types:
        return None
    mt = media_type(content_type)
    major = mt.split("/", 1)[0] + "/*"
    return mt if mt in pass_types or major in pass_types else None


def rewrote(ann: Annotations) -> bool:
    """Whether any finding got an action that changes the body."""
    for a, n in ann.actions.items():
        if a != "allow" and n:
            return True
    return False


def summary(ann: Annotations) -> str:
    """``found=5 spi=2 mask=2 allow=3``: counts only, for the decision record."""
    if _native_summary is not None:
        # The lines below in C (cpragate.pii._cscan.summary): the same text.
        return _native_summary(ann.entities, ann.spi, ann.actions)
    return summary_py(ann)


def summary_py(ann: Annotations) -> str:
    """:func:`summary` in Python (the reference of the C version, and the fallback)."""
    total = 0
    for n in ann.entities.values():
        total += n
    parts = [f"found={total}", f"spi={ann.spi}"]
    actions = ann.actions
    names = list(actions)
    names.sort()  # str keys: sorted like the (action, count) items they name
    for a in names:
        parts.append(f"{a}={actions[a]}")
    return " ".join(parts)


def may_round(source: bytes) -> bool:
    """``core.jsonbody._may_round``, compiled: whether ``source`` holds a run of 20+ ASCII
    digits, or of exactly 19 right after a "-" (an integer orjson reads as a float).

    Without translating every byte: any run of 19+ digits covers one of the positions
    18, 37, 56... (every 19th), so only those are read, and a run is measured only
    around a digit found there; scanning goes on 19 bytes after the run's end.
    (The reference of ``_cscan.may_round``, which the fast path calls when it is loaded.)
    """
    n = len(source)
    p = 18
    while p < n:
        c = source[p]
        if 48 <= c <= 57:
            s = p
            while s > 0 and 48 <= source[s - 1] <= 57:
                s -= 1
            e = p + 1
            while e < n and 48 <= source[e] <= 57:
                e += 1
            run = e - s
            if run >= 20 or (run == 19 and s > 0 and source[s - 1] == 45):
                return True
            p = e + 19
        else:
            p += 19
    return False


_may_round_fn: Final[Callable[[bytes], bool]] = _native_may_round if _native_may_round is not None else may_round
"""may_round in C when loaded (a Final: read without a module dict lookup)."""


def _writable_json(exchange: Exchange, body: Any = None) -> Any:
    """``core.jsonbody.writable_response_json(exchange)`` with its check for big integers
    compiled (:func:`may_round`): a document proven exact is marked so
    (``ParsedJson.exact``); any other goes through ``writable()`` as before.

    :param body: ``exchange.response.body`` when the caller has read it: a document
        already parsed from it is taken without calling ``response_json`` (which makes
        the same check, reading the same attributes again from another group).
    :raises ValueError: the body is not JSON.
    """
    pj = exchange.response_json
    if pj is None or body is None or pj.source is not body:
        response_json(exchange)  # parsed once per body, for every filter
        pj = exchange.response_json
        assert pj is not None
    if not pj.exact:
        src = pj.source
        if type(src) is not bytes or _may_round_fn(src):
            return pj.writable()  # re-parsed exactly if need be
        pj.exact = True
    return pj.doc  # what writable() returns once exact


def _pick(route: Any, filt: Any, default: Any) -> Any:
    return route if route is not None else filt if filt is not None else default


def _per_caller(
    exchange: Exchange, by_consumer: dict[str, ActionRules] | None, by_purpose: dict[Any, ActionRules] | None
) -> ActionRules | None:
    """The caller's consumer entry, else its purpose's entry, else None (also without identity)."""
    if by_consumer is None and by_purpose is None:
        return None
    ident = exchange.identity
    if ident is None:
        return None
    if by_consumer is not None:
        hit = by_consumer.get(ident.consumer)
        if hit is not None:
            return hit
    if by_purpose is not None:
        return by_purpose.get(ident.purpose)
    return None


class Plan:
    """A route's pii settings, resolved once (route settings over the filter's)."""

    def __init__(self, rs: PiiRouteSettings | None, cfg: PiiFilterConfig) -> None:
        self.rules: ActionRules = rs.actions if rs is not None and rs.actions is not None else cfg.engine.actions
        self.on_error: str = rs.on_error if rs is not None and rs.on_error is not None else cfg.on_error
        types = rs.pass_types if rs is not None and rs.pass_types is not None else cfg.pass_types
        self.pass_types: tuple[str, ...] = tuple(types)
        rq, frq = (rs.request if rs is not None else None), cfg.request
        self.req_body: str = _pick(rq.body if rq is not None else None, frq.body, _ANNOTATE)
        self.req_query: str = _pick(rq.query if rq is not None else None, frq.query, _ANNOTATE)
        # Request rules level by level: the route's (by_consumer, by_purpose, actions), then the
        # filter's; a filter-wide entry never beats a route's own request rules, and nothing
        # comes from the response side's per-caller rules (an allowance to *receive* data is
        # not one to *send* it). Neither level set: the route's (or engine's) actions.
        levels: list[tuple[dict[str, ActionRules] | None, dict[Any, ActionRules] | None, ActionRules | None]] = []
        for lv in (rq, frq):
            if lv is not None and (lv.by_consumer or lv.by_purpose or lv.actions is not None):
                levels.append((lv.by_consumer or None, lv.by_purpose or None, lv.actions))
        self.req_levels = tuple(levels)
        # Per caller: the route's entries over the filter's, key by key; None when neither has any.
        by_purpose: dict[Any, ActionRules] = {}
        by_consumer: dict[str, ActionRules] = {}
        if cfg.by_purpose:
            by_purpose.update(cfg.by_purpose)
        if rs is not None and rs.by_purpose:
            by_purpose.update(rs.by_purpose)
        if cfg.by_consumer:
            by_consumer.update(cfg.by_consumer)
        if rs is not None and rs.by_consumer:
            by_consumer.update(rs.by_consumer)
        self.by_purpose: dict[Any, ActionRules] | None = by_purpose or None
        self.by_consumer: dict[str, ActionRules] | None = by_consumer or None
        st, fst = (rs.stream if rs is not None else None), cfg.stream
        self.stream: bool = _pick(st.enabled if st is not None else None, fst.enabled, True)
        self.array: str | None = _pick(st.array if st is not None else None, fst.array, None)
        self.max_element: int = _pick(
            st.max_element_bytes if st is not None else None, fst.max_element_bytes, 1 << 20
        )

    def rules_for(self, exchange: Exchange) -> ActionRules:
        """The response rules for this caller: its consumer's, else its purpose's, else the route's."""
        return _per_caller(exchange, self.by_consumer, self.by_purpose) or self.rules

    def request_rules_for(self, exchange: Exchange) -> ActionRules:
        """The request rules for this caller (RequestInspection's docstring gives the order)."""
        for by_consumer, by_purpose, actions in self.req_levels:
            hit = _per_caller(exchange, by_consumer, by_purpose)
            if hit is not None:
                return hit
            if actions is not None:
                return actions
        return self.rules


class Fast:
    """The filter's plans per route and its response fast path (see the module docstring).

    :param report: the filter's ``PiiReport`` class (an ``exchange.pii`` of that class
        already holds the request's counts and gets the response's added).
    """

    def __init__(self, engine: Engine, cfg: PiiFilterConfig, report: type) -> None:
        self.engine = engine
        self.cfg = cfg
        self.report = report
        self.plans: dict[int, Plan] = {}
        self._last_route: RouteInfo | None = None  # (plan(): the last route and its plan)
        self._last_plan: Plan | None = None
        self.default_plan = Plan(None, cfg)
        self.request_inspect: Callable[[Exchange], Verdict] | None = None
        """The filter's request phase for a request with a query string or a body (set by
        the filter; None: every request is let through as having nothing to inspect)."""

    def request_now(self, exchange: Exchange) -> Verdict:
        """The request phase: most requests (a GET without query string) carry nothing to
        inspect and are let through here, compiled; the rest go to ``request_inspect``."""
        req = exchange.request
        if not req.query and not req.body:
            return CONTINUE
        inspect = self.request_inspect
        return inspect(exchange) if inspect is not None else CONTINUE

    def plan(self, route: RouteInfo | None) -> Plan:
        if route is None:
            return self.default_plan
        # The last route's plan first: what the dict below gives for it (its entry is
        # never replaced), without making id()'s int and hashing it (~350 instructions).
        # The route is held, so no other route can take its id while it is kept here.
        if route is self._last_route:
            last = self._last_plan
            assert last is not None
            return last
        plan = self.plans.get(id(route))
        if plan is None:
            plan = self.plans[id(route)] = Plan(route_settings(route), self.cfg)
        self._last_route = route
        self._last_plan = plan
        return plan

    def respond(self, exchange: Exchange) -> Verdict | None:
        """``on_response`` for a buffered body declared JSON; None (nothing changed) otherwise.

        None also for a pass-type route or a body that does not parse: the filter's
        Python (``on_response``) answers those, as it did before this fast path. No body
        (or none buffered): CONTINUE, as ``on_response``.
        """
        resp = exchange.response
        body = resp.body if resp is not None else None
        if not body:
            # No body, or not buffered: streamed (open_response_stream) or passed
            # uninspected by the data plane, which recorded why (as on_response).
            return CONTINUE
        assert resp is not None
        plan = self.plan(exchange.route)
        if plan.pass_types:
            return None
        m = media(resp.headers.get(b"content-type"))
        if m is None or m[0] != JSON:
            return None
        # The body parsed once for every filter (core.jsonbody), exact for big integers
        # since it may be written back; conformance and minimize read the same document.
        try:
            root = _writable_json(exchange, body)
        except ValueError:
            return None
        root, ann = self.engine.process_value(root, plan.rules_for(exchange))
        # set_response_json also sets resp.body (the Exchange's attributes are another
        # group's: each read or write from here is a Python attribute access, ~150-450
        # instructions, so none is repeated).
        rewritten = rewrote(ann) and not ann.blocked
        if rewritten:
            set_response_json(exchange, root)
        rep = exchange.pii
        if rep is not None and isinstance(rep, self.report):
            assert isinstance(rep, Annotations)
            rep.merge(ann)
        else:
            exchange.pii = ann
        if ann.blocked:
            return Deny(PiiResponseBlocked, rule="pii:block:" + str(ann.blocked_by))
        # (the engine's text of these counts when it had it: the same as summary(ann))
        text = ann.summary_text
        exchange.decide(_NAME, "rewritten" if rewritten else "inspected", summary(ann) if text is None else text)
        return CONTINUE
