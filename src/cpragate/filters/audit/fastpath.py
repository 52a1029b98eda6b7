"""The audit filter's per-request work, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py, beside the Exchange it reads and the spool it appends to; this source
runs as is when the build is missing or stale).

Every audited request builds two compact records (begin, completion: see
cpragate.audit.events) and copies them into the memory-mapped spool. Those steps never
wait, so they run synchronously here: ``request_now`` spools the begin, ``response_now``
decides at once unless the route names subjects in the response body, and
``complete_now`` spools the completion. The filter (filter.py) binds them; a trail that
is not the spooling writer (tests, other implementations of ``AuditLog``) gets the
records back to hand to its coroutines instead, so both paths build identical records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import orjson

from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import AuditSpoolFull
from cpragate.pii.engine import Annotations as _Annotations
from cpragate.storage.audit_spool import Spool

__all__ = ["AuditFast", "AuditPlan", "exchange_annotations", "ms3"]

_MAX_SUBJECTS: Final = 64
_MAX_LOOKUPS: Final = 65_536
_NL: Final = orjson.OPT_APPEND_NEWLINE
_dumps: Final = orjson.dumps


class AuditPlan:
    """What the filter needs of one route, resolved once (filter.py makes it)."""

    def __init__(self, required: bool, subject_param: str | None, json_paths: tuple[Any, ...]) -> None:
        self.required = required
        self.subject_param = subject_param
        self.json_paths = json_paths
        """Parsed ``subject_json`` paths (tuples of steps); empty: none."""


def _counts(v: Any) -> dict[str, Any]:
    """A copy of a counts mapping as a dict (``None`` -> ``{}``): the record is handed over
    to the writer thread, so it must not share the annotation's live dict."""
    return dict(v) if v else {}


def _violations(vs: Any) -> list[list[str]]:
    if not vs:  # the common case: no slice, no iterator
        return []
    out: list[list[str]] = []
    for v in (vs or ())[:_MAX_SUBJECTS]:
        out.append([str(getattr(v, "pointer", "")), str(getattr(v, "rule", ""))])
    return out


def _pii_counts(pii: Any, response: bool) -> dict[str, Any]:
    """:meth:`Annotations.audit_counts` of an object that is not an ``Annotations``
    (read defensively: a field may be missing or from a newer version)."""
    p: dict[str, Any] = {
        "categories": _counts(getattr(pii, "categories", None)),
        "entities": _counts(getattr(pii, "entities", None)),
        "spi": int(getattr(pii, "spi", 0) or 0),
    }
    if response:
        p["actions"] = _counts(getattr(pii, "actions", None))
        if getattr(pii, "blocked", False):
            p["blocked"] = str(getattr(pii, "blocked_by", None) or "")
    return p


def ms3(seconds: float) -> float:
    """A duration in milliseconds with three decimals: ``round(seconds * 1000, 3)`` but
    for exact ties. Whole microseconds, then divided by 1000 (the division of an exact
    integer is correctly rounded: the double nearest k/1000, the one round() returns).
    Compiled, ``round(x, 3)`` formats and re-parses the number: ~4.5k instructions per
    completion record against a few dozen here."""
    return math.floor(seconds * 1_000_000.0 + 0.5) / 1000.0


def exchange_annotations(ex: Exchange) -> dict[str, Any] | None:
    """The other filters' findings, as counts, pointers and rules (never values).

    The slots' known classes are read directly: the pii filter's ``Annotations`` (or its
    ``PiiReport``, which adds ``request``) through its compiled ``audit_counts``, the
    validation reports (compiled with this module) by attribute; anything else is read
    defensively (each field may be missing or from a newer version). The dicts are new:
    the record is handed over to the writer thread (storage/audit_spool.py)."""
    out: dict[str, Any] = {}
    pii: Any = ex.pii
    if pii is not None:
        if isinstance(pii, _Annotations):
            p = pii.audit_counts(True)
            # a plain Annotations (the pii fast path's) has no request side: no failed lookup
            req: Any = None if type(pii) is _Annotations else getattr(pii, "request", None)
        else:
            p = _pii_counts(pii, True)
            req = getattr(pii, "request", None)
        out["pii"] = p
        if req is not None:  # what the client sent (the pii filter's request side)
            p["request"] = req.audit_counts(False) if isinstance(req, _Annotations) else _pii_counts(req, False)
    val = ex.validation
    if val is not None:
        out["validation"] = {
            "outcome": val.outcome,
            "violations": _violations(val.violations),
            "stripped": [str(s) for s in val.stripped[:_MAX_SUBJECTS]],
        }
    conf = ex.conformance
    if conf is not None:
        out["conformance"] = {
            "outcome": conf.outcome,
            "removed": dict(conf.removed) if conf.removed else {},
            "violations": _violations(conf.violations),
        }
    mini: Any = ex.minimize
    if mini is not None:
        out["minimize"] = {
            "rule": str(getattr(mini, "rule", "")),
            "request_removed": _counts(getattr(mini, "request_removed", None)),
            "response_removed": _counts(getattr(mini, "response_removed", None)),
        }
    return out or None


class AuditFast:
    """The filter's per-request state and phases (see the module docstring).

    ``append``: the writer's spool append (``Spool.append``: a JSON line, begin or not, the
    record it is the JSON of, handed over and never changed afterwards -> its position or
    None), called directly; None when the trail is another ``AuditLog``
    (then ``request_now`` returns None and ``complete_now`` the record).
    ``on_drop``: the writer's report of a completion the spool refused (logged there).
    """

    def __init__(
        self,
        make_plan: Callable[[RouteInfo | None], AuditPlan],
        lookup: Callable[[str], str],
        time: Callable[[], float],
        monotonic: Callable[[], float],
        append: Callable[[bytes, bool, list[Any]], int | None] | None,
        on_drop: Callable[[int | None], bool] | None,
    ) -> None:
        self.make_plan = make_plan
        self.lookup_key = lookup
        self.time = time
        self.mono = monotonic
        self.append = append
        self.on_drop = on_drop
        owner = getattr(append, "__self__", None)
        self.spool: Spool | None = owner if type(owner) is Spool and append == owner.append else None
        """The spool whose ``append`` ``append`` is (the writer's): called natively, compiled
        with this module (no bound-method call, argument parsing and boxing: ~325 per call)."""
        self.plans: dict[int, AuditPlan] = {}
        self.default_plan = make_plan(None)
        self.last_route: RouteInfo | None = None
        """The route :meth:`plan` answered last (held: its ``id`` cannot be reused meanwhile)."""
        self.last_plan = self.default_plan
        self.lookups: dict[str, str] = {}

    def lookup(self, value: str) -> str:
        """The trail's keyed lookup, memoized (ids repeat; bounded; never leaves the process)."""
        hit = self.lookups.get(value)
        if hit is None:
            if len(self.lookups) >= _MAX_LOOKUPS:
                self.lookups.clear()
            hit = self.lookup_key(value)
            self.lookups[value] = hit
        return hit

    def plan(self, route: RouteInfo | None) -> AuditPlan:
        """The route's plan, made once. The last route's is kept beside the table: requests
        to one route in a row (and its request and response phases) skip the boxing of
        ``id(route)`` and the hash lookup (~300-370 instructions per call)."""
        if route is None:
            return self.default_plan
        if route is self.last_route:
            return self.last_plan
        plan = self.plans.get(id(route))
        if plan is None:
            plan = self.make_plan(route)
            self.plans[id(route)] = plan
        self.last_route = route
        self.last_plan = plan
        return plan

    def begin_record(self, ex: Exchange, plan: AuditPlan) -> list[Any]:
        route = ex.route
        params = ex.params
        plist: list[list[str]] = []
        subjects: list[str] = []
        if params:
            sp = plan.subject_param
            for k, v in params.items():
                h = self.lookup(v)
                plist.append([k, h])
                if k == sp:
                    subjects.append(h)
        ident: Any = ex.identity
        consumer: Any = None
        auth: Any = None
        purpose: Any = None
        if type(ident) is Identity:  # authn's (compiled with this module): native reads
            consumer = ident.consumer
            auth = ident.method
            purpose = ident.purpose
        elif ident is not None:
            consumer = getattr(ident, "consumer", None)
            auth = getattr(ident, "method", None)
            purpose = getattr(ident, "purpose", None)
        if route is not None:
            template: str | None = route.template
            name: str | None = route.name
            personal = route.personal
        else:
            template = name = None
            personal = False
        return [
            "b",
            self.time(),
            ex.request_id,
            ex.request.method,
            template,
            name,
            plist,
            subjects,
            consumer if isinstance(consumer, str) else None,
            auth if isinstance(auth, str) else None,
            purpose if isinstance(purpose, str) else None,
            ex.client_ip,
            personal,
        ]

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """Spool the begin record (None, having done nothing, without a spool)."""
        append = self.append
        if append is None:
            return None
        plan = self.plan(exchange.route)
        rec = self.begin_record(exchange, plan)
        data = _dumps(rec, option=_NL)
        spool = self.spool
        return self.begun(exchange, plan, spool.append(data, True, rec) if spool is not None else append(data, True, rec))

    def begun(self, ex: Exchange, plan: AuditPlan, pos: int | None) -> Verdict:
        """The request phase's verdict once the begin was spooled at ``pos`` (None: refused)."""
        if pos is None:
            if plan.required:
                return Deny(AuditSpoolFull, rule="spool-full")
            return CONTINUE
        ex.audit = pos
        return CONTINUE

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """CONTINUE unless the route names subjects in a body to read (None: on_response)."""
        resp = exchange.response
        if resp is None or resp.status >= 400 or not resp.body or not self.plan(exchange.route).json_paths:
            return CONTINUE
        return None

    def completion(self, ex: Exchange) -> list[Any]:
        """The completion record, or for an exchange with no begin a whole event ``["e", ...]``."""
        resp = ex.response
        ann = exchange_annotations(ex)
        started = ex.started
        raw: float | None = ms3(self.mono() - started) if started else None
        latency = raw if raw is None or raw >= 0 else None
        pos = ex.audit
        subjects = ex.audit_subjects
        decisions: list[list[str]] = []
        for d in ex.decisions:
            decisions.append([d.filter, d.outcome, d.rule])
        comp: list[Any] = [
            "c",
            pos,
            None if pos is not None else self.time(),
            resp.status if resp is not None else None,
            ex.outcome,
            ex.error_code,
            decisions,
            ann,
            list(subjects) if subjects is not None else None,  # a copy: the record is handed over
            ex.bytes_in,
            ex.bytes_out,
            latency,
        ]
        if pos is not None:
            return comp
        begin = self.begin_record(ex, self.plan(ex.route))
        begin[1] = self.time() - (raw or 0.0) / 1000.0
        return ["e", begin, comp]

    def complete_spooled(self, exchange: Exchange) -> bool:
        """The filter's ``complete_now``: the completion spooled (True), or False having
        done nothing when there is no spool (``on_complete`` hands the record to the trail)."""
        if self.append is None:
            return False
        self.complete_now(exchange)
        return True

    def complete_now(self, ex: Exchange) -> list[Any] | None:
        """Spool the completion (or whole event); without a spool, the record for the trail."""
        rec = self.completion(ex)
        append = self.append
        if append is None:
            return rec
        data = _dumps(rec, option=_NL)
        spool = self.spool
        pos = spool.append(data, False, rec) if spool is not None else append(data, False, rec)
        if pos is None and self.on_drop is not None:
            self.on_drop(None)
        return None
