"""Who is calling and how much they may: the types authn, authz and rate limiting share.

``Consumer`` is a consumer of the API as the operator declared it (config or store);
``Identity`` is what authn established for one request: the consumer, the credential
that proved it (by a public id only — a key prefix, a certificate subject, a token's
``kid``, never the secret), the scopes in force and, for JWTs, the verified claims.
``RateLimitState`` carries the headers the rate limiter adds to the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = ["PURPOSES", "Consumer", "Identity", "Purpose", "RateLimitState"]

Purpose = Literal["service_provider", "contractor", "third_party"]
PURPOSES: tuple[Purpose, ...] = ("service_provider", "contractor", "third_party")
"""CPRA 1798.140: service providers and contractors process for the business; third parties do not."""

_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_NO_CLAIMS: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Consumer:
    """A consumer of the API: a name, a CPRA purpose, scopes, roles and attributes (tenants…)."""

    name: str
    purpose: Purpose = "third_party"
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """Set on ``Exchange.identity`` by authn: the caller of one request."""

    consumer: str
    purpose: Purpose
    method: Literal["api_key", "jwt", "mtls"]
    credential_id: str
    """Public id of the credential, safe for logs (key prefix, cert subject, token kid)."""
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    claims: Mapping[str, object] = field(default_factory=lambda: _NO_CLAIMS)
    """The verified JWT claims (empty for keys and certificates)."""

    def attribute(self, name: str) -> tuple[str, ...]:
        return self.attributes.get(name, ())

    @classmethod
    def of(
        cls,
        consumer: Consumer,
        method: Literal["api_key", "jwt", "mtls"],
        credential_id: str,
        scopes: frozenset[str] | None = None,
        claims: Mapping[str, object] | None = None,
    ) -> Identity:
        return cls(
            consumer=consumer.name,
            purpose=consumer.purpose,
            method=method,
            credential_id=credential_id,
            scopes=consumer.scopes if scopes is None else scopes,
            roles=consumer.roles,
            attributes=consumer.attributes,
            claims=MappingProxyType(dict(claims)) if claims else _NO_CLAIMS,
        )


class RateLimitState:
    """The rate limiter's verdict for the response headers (IETF httpapi RateLimit draft).

    A plain class, not a dataclass: made on every rate-limited request, and compiled (this
    module is in the ``dataplane`` group) its ``__init__`` is native, where a dataclass's
    is an interpreted function generated at import (~2k instructions a call)."""

    __slots__ = ("current", "policy")

    def __init__(self, policy: bytes, current: bytes) -> None:
        self.policy = policy
        """``RateLimit-Policy`` value, e.g. ``"consumer";q=100;w=60``."""
        self.current = current
        """``RateLimit`` value, e.g. ``"consumer";r=42;t=3``."""

    def __repr__(self) -> str:
        return f"RateLimitState(policy={self.policy!r}, current={self.current!r})"
