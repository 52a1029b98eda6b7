"""Detects personal information in requests and responses and applies the route's actions.

Theory of operation (one exchange):

1. The filter is in the chain only of routes it inspects (``applies_to``): those marked
   ``personal: true`` by default. It declares ``needs_response_body`` (and, per route,
   ``needs_request_body_on`` unless its request bodies are ``off``), so the data plane
   hands it whole, decoded bodies (gzip/deflate undone with the route's limit; other codings are
   refused by the data plane). Route settings are resolved once per route (``_Plan``).
2. Request (``on_request``): the query string (as a form) and JSON, form, NDJSON and
   text bodies are inspected per ``request.query``/``request.body``: ``annotate``
   counts, ``mask`` applies the request rules and forwards the rewritten request
   (``block`` rules refuse it), ``block`` refuses anything the rules would not allow
   (400, CPG-PII-009). A body of another type is counted as uninspected when
   annotating and refused (415, CPG-PII-010) when masking or blocking, unless its type
   is in ``pass_types``. The request rules are chosen per caller (consumer > purpose >
   actions, the route's request rules before the filter's; never the response side's
   per-caller rules; see ``RequestInspection``), from the identity authn set.
3. Response (``on_response``): JSON (``application/json``, ``*/*+json``, or no
   Content-Type with a body that parses as JSON), NDJSON (per line), form and text
   (``text/*``, XML) bodies are rewritten by the engine; a clean or allowed body is
   forwarded byte for byte. A body of any other type (or none) is refused (502,
   CPG-PII-008) unless its type is in ``pass_types`` (then it passes, recorded as
   uninspected): on a route that must be inspected nothing passes unread by default.
4. A response larger than the route's ``max_body_bytes`` is not buffered: the data
   plane asks ``open_response_stream`` for a :class:`ResponseStream` and inspects a
   JSON array element by element (see filters/pii/stream.py).
5. The counts (entities, CPRA categories, SPI, actions; never values) go to
   ``exchange.pii``: a :class:`PiiReport` whose own counts are the response's and
   whose ``request`` holds the request's. One summary line per inspected message goes
   to ``exchange.decisions``.

Rules: nothing here logs, records or raises with a value from a message; the engine's
findings carry only paths, entities and categories.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import (
    dumps,
    loads,
    set_request_json,
    set_response_json,
    writable_request_json,
    writable_response_json,
)
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import (
    PiiRequestRefused,
    PiiRequestUnreadable,
    PiiResponseBlocked,
    PiiResponseUninspectable,
    PiiResponseUnreadable,
)
from cpragate.filters.pii import fastpath as fp
from cpragate.filters.pii.config import PiiFilterConfig
from cpragate.filters.pii.forms import encode_form, parse_form
from cpragate.filters.pii.stream import ResponseStream, summary
from cpragate.pii import Action, ActionRules, Annotations, Engine, Finding, JsonArrayStream

__all__ = ["PiiFilter", "PiiReport", "route_settings"]

_JSON, _TEXT, _SNIFF, _NDJSON, _FORM = fp.JSON, fp.TEXT, fp.SNIFF, fp.NDJSON, fp.FORM
_ALLOW_ALL = ActionRules(default=Action.ALLOW, spi=None)
_OFF, _ANNOTATE, _MASK, _BLOCK = "off", "annotate", "mask", "block"

# The per-response helpers live in fastpath.py (compiled with the engine); these names stay.
route_settings = fp.route_settings
_media_type = fp.media_type
_media = fp.media
_passes = fp.passes
_rewrote = fp.rewrote
_Plan = fp.Plan


class PiiReport(Annotations):
    """``exchange.pii``: the response's counts, and the request's in ``request``.

    (A plain class like Annotations, which may be a compiled class: cpragate._accel.)

    :ivar request: what the client sent (query string and body), None when not inspected.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (*Annotations.FIELDS, "request")

    def __init__(
        self,
        entities: dict[str, int] | None = None,
        categories: dict[str, int] | None = None,
        spi: int = 0,
        actions: dict[str, int] | None = None,
        blocked: bool = False,
        blocked_by: str | None = None,
        request: Annotations | None = None,
    ) -> None:
        super().__init__(entities, categories, spi, actions, blocked, blocked_by)
        self.request = request

    def to_dict(self) -> dict[str, Any]:
        d = Annotations.to_dict(self)
        if self.request is not None:
            d["request"] = self.request.to_dict()
        return d


class _Unreadable(Exception):
    """A body declared JSON/NDJSON/text/form that cannot be parsed or decoded."""


class PiiFilter(Filter):
    """Masks, redacts, tokenizes, drops or blocks personal information in requests and responses.

    Priority 500: on the response path (which runs in reverse) it sees the body after
    privacy choices and minimization and before the security headers (DESIGN.md); on the
    request path it runs after validation, so validation sees what the client sent.
    """

    name = "pii"
    priority = 500
    Config: ClassVar[type[FilterConfig]] = PiiFilterConfig
    needs_response_body = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        if not isinstance(config, PiiFilterConfig):
            raise TypeError("PiiFilter needs a PiiFilterConfig")
        self.cfg = config
        self.engine = Engine(config.engine)
        # Request bodies are buffered only on routes that inspect them (needs_request_body_on).
        self.needs_request_body = True
        # Plans per route and the JSON response path, compiled (fastpath.py); the data plane
        # calls the compiled method itself (no coroutine, no interpreted frame).
        self._fast = fp.Fast(self.engine, config, PiiReport)
        self.response_now = self._fast.respond  # type: ignore[method-assign]
        self._fast.request_inspect = self._request_inspect
        self.request_now = self._fast.request_now  # type: ignore[method-assign]

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        if rs is not None and rs.inspect is not None:
            return rs.inspect
        return self.cfg.routes == "all" or route.personal

    def needs_request_body_on(self, route: RouteInfo) -> bool:
        return bool(self._plan(route).req_body != _OFF)

    def _plan(self, route: RouteInfo | None) -> _Plan:
        return self._fast.plan(route)

    # --------------------------------------------------------------------- request

    async def on_request(self, exchange: Exchange) -> Verdict:
        return self.request_now(exchange)

    def request_now(self, exchange: Exchange) -> Verdict:
        """The request phase never awaits: run synchronously (no coroutine per request).
        Bound in ``__init__`` to the compiled ``Fast.request_now``, which lets a request with
        nothing to inspect through and calls :meth:`_request_inspect` for the rest."""
        return self._fast.request_now(exchange)

    def _request_inspect(self, exchange: Exchange) -> Verdict:
        """A request with a query string or a body (``Fast.request_now`` let the rest through)."""
        req = exchange.request
        plan = self._plan(exchange.route)
        ann: Annotations | None = None
        if req.query and plan.req_query != _OFF:
            ann = Annotations()
            doc = parse_form(req.query.decode("utf-8", "replace"))
            v, new = self._inspect_request(doc, plan.req_query, plan.request_rules_for(exchange), ann, "query")
            if v is not None:
                return self._refuse_request(exchange, ann, v)
            if new is not None:
                req.query = encode_form(new).encode("ascii")
        if req.body and plan.req_body != _OFF:
            if ann is None:
                ann = Annotations()
            v = self._request_body(exchange, plan, ann)
            if v is not None:
                return self._refuse_request(exchange, ann, v)
        if ann is not None and ann.total:
            self._report(exchange).request = ann
            exchange.decide(self.name, "request", summary(ann))
        return CONTINUE

    def _request_body(self, exchange: Exchange, plan: _Plan, ann: Annotations) -> str | None:
        """Inspect the request body; the refusal's rule, or None to continue."""
        req = exchange.request
        body = req.body or b""
        ctype = req.headers.get(b"content-type")
        mode = plan.req_body
        if _passes(ctype, plan.pass_types):
            return None
        rules = plan.request_rules_for(exchange)
        media = _media(ctype)
        kind, charset = media if media is not None else (0, "")
        try:
            if kind in (_JSON, _SNIFF):
                try:
                    doc = writable_request_json(exchange)
                except ValueError:
                    raise _Unreadable from None
                v, new = self._inspect_request(doc, mode, rules, ann, "body")
                if new is not None:
                    set_request_json(exchange, new)
                return v
            if kind == _FORM:
                try:
                    form = parse_form(body.decode(charset))
                except (UnicodeDecodeError, LookupError):
                    raise _Unreadable from None
                v, new = self._inspect_request(form, mode, rules, ann, "body")
                if new is not None:
                    req.body = encode_form(new).encode("ascii")
                return v
            if kind in (_TEXT, _NDJSON):
                if mode == _BLOCK:
                    findings = self._text_findings(body, kind, charset)
                    _count(ann, findings)
                    return "body" if _refused(findings, rules) else None
                out, a = self._text_or_lines(
                    body, kind, charset, rules if mode == _MASK else _ALLOW_ALL
                )
                ann.merge(a)
                if a.blocked:
                    return f"block:{a.blocked_by}"
                if out is not None:
                    req.body = out
                return None
        except _Unreadable:
            pass
        # Not a type the filter reads (or not what it claims to be).
        if mode == _ANNOTATE:
            exchange.decide(self.name, "uninspected", "pii:request-body-unreadable")
            return None
        return "unreadable"

    def _inspect_request(
        self, doc: Any, mode: str, rules: ActionRules, ann: Annotations, where: str
    ) -> tuple[str | None, Any]:
        """(refusal rule or None, rewritten document or None) for a parsed query/body."""
        if mode == _MASK:
            new, a = self.engine.process_value(doc, rules)
            ann.merge(a)
            if a.blocked:
                return f"block:{a.blocked_by}", None
            return None, (new if _rewrote(a) else None)
        if mode == _BLOCK:
            findings = self.engine.scan_json(doc)
            _count(ann, findings)
            return (where if _refused(findings, rules) else None), None
        # annotate: every finding allowed and counted, nothing rewritten
        _, a = self.engine.process_value(doc, _ALLOW_ALL)
        ann.merge(a)
        return None, None

    def _refuse_request(self, exchange: Exchange, ann: Annotations, why: str) -> Verdict:
        self._report(exchange).request = ann
        if why == "unreadable":
            return Deny(PiiRequestUnreadable, rule="pii:request-body-unreadable")
        return Deny(PiiRequestRefused, rule=f"pii:request-{why}")

    @staticmethod
    def _report(exchange: Exchange) -> PiiReport:
        rep = exchange.pii
        if not isinstance(rep, PiiReport):
            rep = PiiReport()
            if exchange.pii is not None:
                rep.merge(exchange.pii)
            exchange.pii = rep
        return rep

    # --------------------------------------------------------------------- response

    def response_now(self, exchange: Exchange) -> Verdict | None:
        """A JSON response decided at once (fastpath.py); None: ``on_response`` handles it."""
        return self._fast.respond(exchange)

    async def on_response(self, exchange: Exchange) -> Verdict:
        v = self._fast.respond(exchange)
        if v is not None:
            return v
        # Everything but a buffered JSON body (and a JSON body that does not parse).
        resp = exchange.response
        if resp is None or not resp.body:
            # No body, or not buffered: streamed (open_response_stream) or passed
            # uninspected by the data plane, which recorded why.
            return CONTINUE
        body = resp.body
        ctype = resp.headers.get(b"content-type")
        plan = self._plan(exchange.route)
        passed = _passes(ctype, plan.pass_types)
        if passed is not None:
            exchange.decide(self.name, "uninspected", f"pii:pass-type:{passed}")
            return CONTINUE
        media = _media(ctype)
        if media is None:
            return Deny(PiiResponseUnreadable, rule="pii:unreadable-type")
        kind, charset = media
        if kind == _TEXT and not self.cfg.text:
            exchange.decide(self.name, "uninspected", f"pii:pass-type:{_media_type(ctype or b'')}")
            return CONTINUE
        rules = plan.rules_for(exchange)
        new_body: bytes | None
        if kind == _SNIFF:
            # No Content-Type: inspected only if it is JSON; anything else is refused.
            if not body[:64].lstrip().startswith((b"{", b"[")):
                return Deny(PiiResponseUnreadable, rule="pii:unreadable-type")
            try:
                writable_response_json(exchange)
            except ValueError:
                return Deny(PiiResponseUnreadable, rule="pii:unreadable-type")
            kind = _JSON
        if kind == _JSON:
            # The body parsed once for every filter (core.jsonbody), exact for big integers
            # since it may be written back; conformance and minimize read the same document.
            try:
                root = writable_response_json(exchange)
            except ValueError:
                return self._uninspectable(exchange, plan, "json-unparseable")
            root, ann = self.engine.process_value(root, rules)
            new_body = set_response_json(exchange, root) if _rewrote(ann) and not ann.blocked else None
        elif kind == _FORM:
            try:
                form = parse_form(body.decode(charset))
            except (UnicodeDecodeError, LookupError):
                return self._uninspectable(exchange, plan, "form-undecodable")
            form, ann = self.engine.process_value(form, rules)
            new_body = encode_form(form).encode("ascii") if _rewrote(ann) and not ann.blocked else None
        else:
            try:
                new_body, ann = self._text_or_lines(body, kind, charset, rules)
            except _Unreadable:
                return self._uninspectable(
                    exchange, plan, "text-undecodable" if kind == _TEXT else "ndjson-unparseable"
                )
        rep = exchange.pii
        if isinstance(rep, PiiReport):
            rep.merge(ann)
        else:
            exchange.pii = ann
        if ann.blocked:
            return Deny(PiiResponseBlocked, rule=f"pii:block:{ann.blocked_by}")
        if new_body is not None:
            resp.body = new_body
        exchange.decide(self.name, "rewritten" if new_body is not None else "inspected", summary(ann))
        return CONTINUE

    def _text_or_lines(
        self, body: bytes, kind: int, charset: str, rules: ActionRules
    ) -> tuple[bytes | None, Annotations]:
        """Rewrite a text or NDJSON body: (new body or None when unchanged, counts).

        :raises _Unreadable: undecodable text, or an NDJSON line that is not JSON.
        """
        if kind == _TEXT:
            try:
                text = body.decode(charset)
            except (UnicodeDecodeError, LookupError):
                raise _Unreadable from None
            out, ann = self.engine.process_text(text, rules)
            if not _rewrote(ann) or ann.blocked:
                return None, ann
            try:
                return out.encode(charset, "strict"), ann
            except UnicodeEncodeError:  # a redaction marker the charset cannot spell
                return out.encode(charset, "xmlcharrefreplace"), ann
        total = Annotations()
        lines = body.split(b"\n")
        changed = False
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                doc = loads(line)
            except ValueError:
                raise _Unreadable from None
            new, ann = self.engine.process_value(doc, rules)
            total.merge(ann)
            if ann.blocked:
                return None, total
            if _rewrote(ann):
                lines[i] = dumps(new) + (b"\r" if line.endswith(b"\r") else b"")
                changed = True
        return (b"\n".join(lines) if changed else None), total

    def _text_findings(self, body: bytes, kind: int, charset: str) -> list[Finding]:
        """Findings in a text or NDJSON body (for ``block`` mode: nothing is rewritten).

        :raises _Unreadable: as :meth:`_text_or_lines`.
        """
        if kind == _TEXT:
            try:
                return self.engine.scan_text(body.decode(charset))
            except (UnicodeDecodeError, LookupError):
                raise _Unreadable from None
        out: list[Finding] = []
        for line in body.split(b"\n"):
            if line.strip():
                try:
                    out += self.engine.scan_json(loads(line))
                except ValueError:
                    raise _Unreadable from None
        return out

    def _uninspectable(self, exchange: Exchange, plan: _Plan, why: str) -> Verdict:
        if plan.on_error == "deny":
            return Deny(PiiResponseUninspectable, rule=f"pii:{why}")
        self.ctx.log.warning(
            "pii: response of request %s passed uninspected (%s; on_error: allow)", exchange.request_id, why
        )
        exchange.decide(self.name, "uninspected", f"pii:{why}")
        return CONTINUE

    # --------------------------------------------------------------------- streaming

    def open_response_stream(self, exchange: Exchange) -> ResponseStream | None:
        """A stream for a JSON response too large to buffer, or None (not JSON, or off).

        Called by the data plane before the response phase; the phase then runs on the
        head alone and this filter's ``on_response`` sees no body.
        """
        resp = exchange.response
        plan = self._plan(exchange.route)
        if resp is None or not plan.stream:
            return None
        media = _media(resp.headers.get(b"content-type"))
        if media is None or media[0] != _JSON:
            return None
        rep = self._report(exchange)
        js = JsonArrayStream(
            self.engine, plan.rules_for(exchange), max_element_bytes=plan.max_element, array=plan.array, annotations=rep
        )
        return ResponseStream(exchange, js)


def _refused(findings: list[Finding], rules: ActionRules) -> bool:
    """Whether ``rules`` would do anything but allow one of ``findings``."""
    return any(rules.action_for(f.entity, f.category, f.spi) is not Action.ALLOW for f in findings)


def _count(ann: Annotations, findings: list[Finding]) -> None:
    for f in findings:
        ann.count(f.entity, f.category, f.spi, None)
