"""Detects personal information in upstream responses and applies the route's actions.

Theory of operation (one response):

1. The filter is in the chain only of routes it inspects (``applies_to``): those marked
   ``personal: true`` by default. It declares ``needs_response_body``, so the data plane
   hands it the whole, decoded body (or refuses/streams per the route's body limit,
   in which case the body is None here and the data plane has already recorded it).
2. JSON (``application/json``, ``*/*+json``, or no Content-Type with a body starting
   ``{``/``[``) is parsed once, walked and rewritten in place by the engine and
   serialized once, only if an action changed something: an allowed or clean body is
   forwarded byte for byte. ``text/*`` is rewritten as text in its charset. Anything
   else passes unread.
3. The counts (entities, CPRA categories, SPI, actions; never values) go to
   ``exchange.pii`` and a one-line summary to ``exchange.decisions``.
4. A ``block`` action withholds the response: ``Deny(PiiResponseBlocked)`` (502). A
   body declared JSON/text that cannot be parsed follows ``on_error``: ``deny`` answers
   502 (CPG-PII-007), ``allow`` forwards it unread and logs a warning every time.

Rules: nothing here logs, records or raises with a value from the body; the engine's
findings carry only paths, entities and categories.
"""

from __future__ import annotations

from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.jsonbody import set_response_json, writable_response_json
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import PiiResponseBlocked, PiiResponseUninspectable
from cpragate.filters.pii.config import PiiFilterConfig, PiiRouteSettings
from cpragate.pii import ActionRules, Annotations, Engine

__all__ = ["PiiFilter", "route_settings"]

_JSON, _TEXT, _SNIFF = 1, 2, 3


def route_settings(route: RouteInfo | None) -> PiiRouteSettings | None:
    """The route's own pii settings (``settings.pii``), or None."""
    settings = route.settings if route is not None else None
    s = getattr(settings, "pii", None)
    return s if isinstance(s, PiiRouteSettings) else None


def _media(content_type: bytes | None) -> tuple[int, str] | None:
    """(kind, charset) of a Content-Type the filter reads, or None to pass it unread."""
    if content_type is None:
        return _SNIFF, "utf-8"
    mt, _, params = content_type.decode("latin-1").partition(";")
    mt = mt.strip().lower()
    if mt == "application/json" or mt.endswith("+json"):
        # RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
        return _JSON, "utf-8"
    if mt.startswith("text/"):
        charset = "utf-8"
        for p in params.split(";"):
            k, _, v = p.partition("=")
            if k.strip().lower() == "charset" and v.strip():
                charset = v.strip().strip('"').lower()
        return _TEXT, charset
    return None


def _summary(ann: Annotations) -> str:
    """``found=5 spi=2 mask=2 allow=3``: counts only, for the decision record."""
    parts = [f"found={ann.total}", f"spi={ann.spi}"]
    parts += [f"{a}={n}" for a, n in sorted(ann.actions.items())]
    return " ".join(parts)


class PiiFilter(Filter):
    """Masks, redacts, tokenizes, drops or blocks personal information in responses.

    Priority 500: on the response path (which runs in reverse) it sees the body after
    privacy choices and minimization and before the security headers (DESIGN.md).
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

    def applies_to(self, route: RouteInfo) -> bool:
        rs = route_settings(route)
        if rs is not None and rs.inspect is not None:
            return rs.inspect
        return self.cfg.routes == "all" or route.personal

    def _rules(self, rs: PiiRouteSettings | None) -> ActionRules:
        if rs is not None and rs.actions is not None:
            return rs.actions
        return self.cfg.engine.actions

    async def on_response(self, exchange: Exchange) -> Verdict:
        resp = exchange.response
        if resp is None or not resp.body:
            return CONTINUE
        media = _media(resp.headers.get(b"content-type"))
        if media is None:
            return CONTINUE
        kind, charset = media
        body = resp.body
        if kind == _SNIFF:
            head = body[:64].lstrip()
            if not head.startswith((b"{", b"[")):
                return CONTINUE
        elif kind == _TEXT and not self.cfg.text:
            return CONTINUE
        rs = route_settings(exchange.route)
        rules = self._rules(rs)
        new_body: bytes | None
        if kind == _TEXT:
            try:
                text = body.decode(charset)
            except (UnicodeDecodeError, LookupError):
                return self._uninspectable(exchange, rs, "text-undecodable")
            out, ann = self.engine.process_text(text, rules)
            new_body = out.encode(charset, "strict") if _rewrote(ann) and not ann.blocked else None
        else:
            # The body parsed once for every filter (core.jsonbody), exact for big integers
            # since it may be written back; conformance and minimize read the same document.
            try:
                root = writable_response_json(exchange)
            except ValueError:
                if kind == _SNIFF:
                    return CONTINUE  # not declared JSON and not JSON: pass it like other types
                return self._uninspectable(exchange, rs, "json-unparseable")
            root, ann = self.engine.process_value(root, rules)
            new_body = set_response_json(exchange, root) if _rewrote(ann) and not ann.blocked else None
        exchange.pii = ann
        if ann.blocked:
            return Deny(PiiResponseBlocked, rule=f"pii:block:{ann.blocked_by}")
        if new_body is not None:
            resp.body = new_body
        exchange.decide(self.name, "rewritten" if new_body is not None else "inspected", _summary(ann))
        return CONTINUE

    def _uninspectable(self, exchange: Exchange, rs: PiiRouteSettings | None, why: str) -> Verdict:
        on_error = rs.on_error if rs is not None and rs.on_error is not None else self.cfg.on_error
        if on_error == "deny":
            return Deny(PiiResponseUninspectable, rule=f"pii:{why}")
        self.ctx.log.warning(
            "pii: response of request %s passed uninspected (%s; on_error: allow)", exchange.request_id, why
        )
        exchange.decide(self.name, "uninspected", f"pii:{why}")
        return CONTINUE


def _rewrote(ann: Annotations) -> bool:
    """Whether any finding got an action that changes the body."""
    return any(a != "allow" and n for a, n in ann.actions.items())
