"""One request/response exchange: the only thing filters share (STYLE §7.5).

Filters communicate through the typed slots below, never through an untyped metadata
dict. A slot is added here, with its docstring, when a capability needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cpragate.core.messages import Request, Response
from cpragate.core.route import RouteInfo

if TYPE_CHECKING:
    from cpragate.core.access import Identity, RateLimitState
    from cpragate.core.jsonbody import ParsedJson
    from cpragate.filters.minimize.report import MinimizeReport
    from cpragate.filters.validation.report import ConformanceReport, ValidationReport
    from cpragate.pii.engine import Annotations

__all__ = ["Decision", "Exchange", "TlsInfo"]


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """The client side's TLS session, as verified by the listener."""

    version: str
    cipher: str
    client_subject: str | None = None
    """RFC 4514 subject of a *verified* client certificate (mTLS), else None."""
    client_san: tuple[str, ...] = ()
    """DNS/URI/email subject alternative names of the verified client certificate."""


class Decision:
    """A filter's recorded decision, for the audit trail: who decided what, by which rule.

    Read-only by convention. A plain class rather than a frozen dataclass: mypyc compiles
    this module, and a frozen dataclass's ``__init__`` stays an interpreted function
    (``object.__setattr__`` per field): ~4,900 instructions per decision against ~150.
    """

    __slots__ = ("filter", "outcome", "rule")

    def __init__(self, filter: str, outcome: str, rule: str = "") -> None:
        self.filter = filter
        self.outcome = outcome
        self.rule = rule

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.filter == other.filter and self.outcome == other.outcome and self.rule == other.rule

    def __hash__(self) -> int:
        return hash((self.filter, self.outcome, self.rule))

    def __repr__(self) -> str:
        return f"Decision(filter={self.filter!r}, outcome={self.outcome!r}, rule={self.rule!r})"


class Exchange:
    """Per-request state handed to every phase method."""

    __slots__ = (
        "audit",
        "audit_subjects",
        "bytes_in",
        "bytes_out",
        "client_ip",
        "conformance",
        "decisions",
        "error_code",
        "filters_seen",
        "identity",
        "minimize",
        "outcome",
        "params",
        "peer_ip",
        "pii",
        "rate_limit",
        "request",
        "request_id",
        "request_json",
        "response",
        "response_json",
        "route",
        "scheme",
        "started",
        "tls",
        "validation",
    )

    def __init__(
        self,
        request: Request,
        request_id: str,
        client_ip: str = "127.0.0.1",
        peer_ip: str | None = None,
        scheme: str = "http",
        tls: TlsInfo | None = None,
        route: RouteInfo | None = None,
        params: dict[str, str] | None = None,
        started: float = 0.0,
    ) -> None:
        self.request = request
        self.request_id = request_id
        self.client_ip = client_ip
        """The client's address: the peer, or from X-Forwarded-For when the peer is trusted."""
        self.peer_ip = peer_ip if peer_ip is not None else client_ip
        self.scheme = scheme
        self.tls = tls
        self.route = route
        self.params: dict[str, str] = params if params is not None else {}
        """Path parameters of the matched template (``{"id": "42"}``)."""
        self.response: Response | None = None
        self.identity: Identity | None = None
        """Set by authn: who is calling (a consumer), None while anonymous."""
        self.rate_limit: RateLimitState | None = None
        """Set by the rate limiter: its RateLimit/RateLimit-Policy headers for the response."""
        self.decisions: list[Decision] = []
        self.pii: Annotations | None = None
        """Set by the pii filter: counts of what it found and did in the response, per
        entity, CPRA category and action (never values), and in ``request`` (a
        ``PiiReport``) what the client sent; None when it did not inspect."""
        self.request_json: ParsedJson | None = None
        self.response_json: ParsedJson | None = None
        """Parsed JSON bodies shared by the filters that read them; use
        ``cpragate.core.jsonbody.request_json(ex)``/``response_json(ex)`` (parse once)."""
        self.validation: ValidationReport | None = None
        """Set by the validation filter: the request's violations, by JSON pointer and rule."""
        self.conformance: ConformanceReport | None = None
        """Set by the conformance filter: response fields beyond the spec, schema violations."""
        self.minimize: MinimizeReport | None = None
        """Set by the minimize filter: the rule applied and the fields removed, by path."""
        self.outcome = "pending"
        """served | denied | error | aborted | interrupted — set by the data plane."""
        self.error_code: str | None = None
        self.filters_seen = 0
        """How many filters of the chain ran their request phase (the response unwinds those)."""
        self.started = started
        self.bytes_in = 0
        self.bytes_out = 0
        self.audit: int | None = None
        """Set by the audit filter: the spool position of this exchange's begin record."""
        self.audit_subjects: list[str] | None = None
        """Set by the audit filter: keyed lookups of the data subjects the response names."""

    def decide(self, filter_name: str, outcome: str, rule: str = "") -> None:
        self.decisions.append(Decision(filter_name, outcome, rule))

    def __repr__(self) -> str:
        return f"Exchange({self.request_id} {self.request!r} -> {self.response!r})"
