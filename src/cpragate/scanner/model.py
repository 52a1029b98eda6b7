"""What the scanner sends, what it gets back, and what it reports.

Checks never do I/O: they *yield* a :class:`HttpRequest` (or a :class:`TlsProbe`,
:class:`CanaryPoll`) and are sent back an :class:`HttpResponse` (or the probe's answer)
by the runner. A :class:`Finding` carries evidence as :class:`Evidence` excerpts that
were redacted when they were made: credentials replaced, personal data masked.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

__all__ = [
    "Burst",
    "CanaryPoll",
    "CheckGen",
    "Evidence",
    "Finding",
    "HttpRequest",
    "HttpResponse",
    "Probe",
    "Severity",
    "TlsProbe",
]


class Severity(enum.IntEnum):
    """Ordered: ``Severity.HIGH > Severity.MEDIUM``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; use one of {', '.join(s.label for s in cls)}") from None


@dataclass
class HttpRequest:
    """One request a check wants sent. ``path`` is relative to the target (``/v1/x``)
    unless ``url`` is given (another scheme or port of the *same host*, for API8)."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    body: bytes | None = None
    url: str | None = None
    identity: str | None = None
    """Which identity's credential is in ``headers``/``query`` (for the report; never the value)."""
    burst: bool = False
    """Part of a :class:`Burst`: sent without the pacing of ``--rate`` (counted in the budget)."""

    def content(self) -> bytes | None:
        if self.json is not None:
            return orjson.dumps(self.json)
        return self.body

    def target(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")


@dataclass
class HttpResponse:
    """The answer. ``status == 0`` means no HTTP answer: ``error`` says why (refused by the
    scanner's own safety rules, connection failure, timeout, budget exhausted)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case names; repeated headers joined with ``, ``."""
    body: bytes = b""
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def granted(self) -> bool:
        """2xx and not an error dressed as success (``{"status": "fail", "message": "Invalid
        token"}`` with 200, as some APIs answer refusals)."""
        if not self.ok:
            return False
        doc = self.json()
        if not isinstance(doc, dict) or len(doc) > 4:
            return True
        status = str(doc.get("status", "")).lower()
        if status in ("fail", "failed", "failure", "error", "denied", "unauthorized", "forbidden"):
            return False
        words = " ".join(str(doc.get(k, "")) for k in ("error", "message", "msg", "detail")).lower()
        return not re.search(r"\b(invalid|unauthori[sz]ed|forbidden|denied|not allowed|expired|missing)\b.{0,20}"
                             r"|\b(token|credential|permission|admin)s? (is |are )?(required|invalid|missing)", words)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        if not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def text(self, limit: int = 1 << 16) -> str:
        return self.body[:limit].decode("utf-8", "replace")


@dataclass(frozen=True)
class TlsProbe:
    """Ask the runner whether the target completes a handshake capped at ``max_version``
    (``"TLSv1"`` or ``"TLSv1.1"``); answered with True/False/None (None: not TLS)."""

    max_version: str


@dataclass(frozen=True)
class CanaryPoll:
    """Ask the runner which paths the local canary listener was asked for, after waiting
    up to ``wait`` seconds for ``token``; answered with a list of paths."""

    token: str
    wait: float = 1.0


@dataclass(frozen=True)
class Burst:
    """Ask the runner to send ``requests`` back to back, ``concurrency`` at a time, unpaced
    (bounded by their number and the budget); answered with their responses in order."""

    requests: tuple[HttpRequest, ...]
    concurrency: int = 8


Probe = HttpRequest | TlsProbe | CanaryPoll | Burst
CheckGen = Generator[Probe, Any, None]
"""A check: ``resp = yield HttpRequest(...)``; findings go to ``ctx.report``."""


@dataclass(frozen=True)
class Evidence:
    """One redacted request/response pair (excerpts)."""

    request: str
    response: str
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        d = {"request": self.request, "response": self.response}
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class Finding:
    """One flaw: OWASP API Top 10 (2023) id, CWE, severity, the operation, evidence, the fix."""

    check: str
    """The check's rule id (``bola``, ``jwt-none``...), stable across releases."""
    owasp: str
    cwe: int
    severity: Severity
    title: str
    operation: str
    """``METHOD /path/{template}`` (or ``* /`` for target-wide findings)."""
    detail: str
    fix: str
    evidence: list[Evidence] = field(default_factory=list)
    key: str = ""
    """What distinguishes two findings of one check on one operation (a property name...)."""
    spec_location: str | None = None
    """``file:line`` of the operation in the spec, when known."""
    policy: dict[str, Any] = field(default_factory=dict)
    """Hints for ``--suggest-policy`` (see :mod:`cpragate.scanner.policy`)."""

    @property
    def fingerprint(self) -> str:
        """Stable across runs: no ids, values or timestamps, only what the flaw is and where."""
        raw = "\x1f".join((self.check, self.operation, self.key))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "owasp": self.owasp,
            "cwe": f"CWE-{self.cwe}",
            "severity": self.severity.label,
            "title": self.title,
            "operation": self.operation,
            "detail": self.detail,
            "fix": self.fix,
            "evidence": [e.to_dict() for e in self.evidence],
            "fingerprint": self.fingerprint,
            "spec_location": self.spec_location,
        }
