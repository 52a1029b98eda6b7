"""Evidence excerpts that are safe to put in a CI log, a SARIF file or a ticket.

Rules (every excerpt goes through here, nothing else builds one):

* credentials are removed: ``Authorization``, ``Cookie``, ``Set-Cookie``, API-key
  headers, any header or query value equal to (or containing) a scan identity's secret,
  JWTs anywhere (``<jwt>``), and the values of password/secret/token-like JSON keys;
* personal information found by the PII engine is masked (every entity, not only SPI);
* excerpts are cut to a bounded length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from cpragate.pii import Action, ActionRules, Engine
from cpragate.scanner.model import Evidence, HttpRequest, HttpResponse

__all__ = ["SECRET_KEY_RE", "Redactor"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
SECRET_KEY_RE = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential|hash|salt)", re.I)
"""JSON keys (and query names) whose values are credentials, in evidence and in API3."""
_CRED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"})
_SHOW_RESPONSE_HEADERS = (
    "content-type", "location", "www-authenticate", "retry-after", "ratelimit", "ratelimit-policy",
    "access-control-allow-origin", "access-control-allow-credentials", "strict-transport-security",
    "x-content-type-options", "cache-control", "server", "x-powered-by",
)  # fmt: skip
_MASK_ALL = ActionRules(default=Action.MASK)


class Redactor:
    """Builds :class:`Evidence` with ``secrets`` (identity credentials) removed and PII masked."""

    def __init__(self, secrets: Iterable[str] = (), engine: Engine | None = None, limit: int = 600) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.engine = engine or Engine()
        self.limit = limit

    def add_secret(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)
            self.secrets.sort(key=len, reverse=True)

    def secrets_only(self, text: str) -> str:
        """Secrets and JWTs replaced (for texts the scanner wrote itself, like a finding's detail)."""
        for s in self.secrets:
            text = text.replace(s, "<credential>")
        return _JWT.sub("<jwt>", text)

    def text(self, text: str) -> str:
        """Secrets and JWTs replaced, PII masked, cut to the limit."""
        for s in self.secrets:
            text = text.replace(s, "<credential>")
        text = _JWT.sub("<jwt>", text)
        masked, _ = self.engine.process_text(text, _MASK_ALL)
        return _cut(masked, self.limit)

    def body(self, data: bytes | None) -> str:
        if not data:
            return ""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.text(data[: self.limit * 4].decode("utf-8", "replace"))
        doc = _drop_secret_values(doc)
        masked = self.engine.process_json(doc, _MASK_ALL).body.decode("utf-8", "replace")
        for s in self.secrets:
            masked = masked.replace(s, "<credential>")
        return _cut(_JWT.sub("<jwt>", masked), self.limit)

    def request(self, req: HttpRequest) -> str:
        query = [(k, self._param(k, v)) for k, v in req.query]
        target = req.url or req.path
        line = f"{req.method} {target}"
        if query:
            line += "?" + "&".join(f"{k}={v}" for k, v in query)
        lines = [line]
        if req.identity:
            lines.append(f"(as identity {req.identity!r})")
        for name, value in req.headers.items():
            low = name.lower()
            if low in _CRED_HEADERS or any(s in value for s in self.secrets) or _JWT.search(value):
                lines.append(f"{name}: <credential removed>")
            else:
                lines.append(f"{name}: {_cut(value, 120)}")
        content = req.content()
        if content:
            lines.append("")
            lines.append(self.body(content))
        return "\n".join(lines)

    def response(self, resp: HttpResponse) -> str:
        if resp.status == 0:
            return f"(no HTTP answer: {resp.error})"
        lines = [f"HTTP {resp.status}"]
        for name in _SHOW_RESPONSE_HEADERS:
            value = resp.headers.get(name)
            if value is not None:
                lines.append(f"{name}: {_cut(self.text(value), 160)}")
        if resp.headers.get("set-cookie"):
            lines.append("set-cookie: <credential removed>")
        if resp.body:
            lines.append("")
            lines.append(self.body(resp.body))
        return "\n".join(lines)

    def evidence(self, req: HttpRequest, resp: HttpResponse, note: str = "") -> Evidence:
        return Evidence(self.request(req), self.response(resp), note)

    def _param(self, name: str, value: str) -> str:
        if SECRET_KEY_RE.search(name) or any(s in value for s in self.secrets) or _JWT.search(value):
            return "<credential>"
        return self.text(value)


def _drop_secret_values(doc: Any, depth: int = 0) -> Any:
    if depth > 32:
        return doc
    if isinstance(doc, dict):
        return {
            k: ("<removed>" if isinstance(k, str) and SECRET_KEY_RE.search(k) and isinstance(v, str | int) else _drop_secret_values(v, depth + 1))
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_drop_secret_values(v, depth + 1) for v in doc[:50]]
    return doc


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"
