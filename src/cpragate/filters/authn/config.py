"""Config of the authn filter (``filters.authn``) and of a route's ``auth:`` section.

Authentication is off until a credential source is configured (``api_keys``, ``jwt`` or
``mtls``). Then every route requires a credential unless it says ``auth: {anonymous: true}``.
"""

from __future__ import annotations

import re
from datetime import datetime
from types import MappingProxyType
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from cpragate.core.access import Consumer, Purpose
from cpragate.core.filter import FilterConfig

__all__ = [
    "ApiKeysConfig",
    "AuthnConfig",
    "ConsumerConfig",
    "DeclaredKey",
    "JwtConfig",
    "MtlsConfig",
    "RouteAuth",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
Method = Literal["api_key", "jwt", "mtls"]
Alg = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519", "HS256"]
_DEFAULT_ALGS: tuple[Alg, ...] = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519")


def _name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(f"consumer name {v!r} must be 1-128 of letters, digits and . _ : @ - (starting with a letter or digit)")
    return v


class ConsumerConfig(FilterConfig):
    """A consumer of the API declared in the config (others can live in the store: `cpragate keys`)."""

    name: str = Field(..., description="Unique name; appears in logs, the audit trail and the forwarded consumer header.")
    purpose: Purpose = Field(
        ..., description="CPRA role of the recipient: service_provider, contractor or third_party (authz rules can require it)."
    )
    scopes: list[str] = Field(default_factory=list, description="Scopes granted (function-level access), e.g. customers:read.")
    roles: list[str] = Field(default_factory=list, description="Roles granted, e.g. admin.")
    attributes: dict[str, list[str]] = Field(
        default_factory=dict, description="Attributes object rules can test, e.g. {tenants: [t1]}."
    )

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        return _name(v)

    def to_consumer(self) -> Consumer:
        return Consumer(
            name=self.name,
            purpose=self.purpose,
            scopes=frozenset(self.scopes),
            roles=frozenset(self.roles),
            attributes=MappingProxyType({k: tuple(v) for k, v in self.attributes.items()}),
        )


class DeclaredKey(FilterConfig):
    """An API key declared in the config by its prefix and hash (e.g. fixed demo keys)."""

    consumer: str = Field(..., description="Consumer the key authenticates.")
    prefix: str = Field(..., pattern=r"^cpg_[a-z2-7]{8}$", description="The key's public prefix (cpg_xxxxxxxx).")
    hash: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of the whole key, as `cpragate keys hash` prints it.")
    scopes: list[str] | None = Field(None, description="Narrow the consumer's scopes for this key.")
    expires: datetime | None = Field(None, description="Refuse the key after this time (ISO 8601 with a time zone).")


class ApiKeysConfig(FilterConfig):
    """API keys: high-entropy secrets in a request header, stored only as keyed hashes."""

    header: str = Field("x-api-key", description="Request header that carries the key.")
    hash_secret: SecretStr | None = Field(
        None,
        description="Key for the HMAC of stored keys (`${ENV}` or `file:`); with it, a copied key table cannot even confirm a guess. Changing it invalidates every key.",
    )
    keys: list[DeclaredKey] = Field(default_factory=list, description="Keys declared here in addition to the store's.")
    cache_seconds: float = Field(
        5.0, ge=0, le=300, description="How long a key looked up in the store is trusted before it is read again (a revocation takes effect within this time)."
    )
    cache_size: int = Field(10_000, ge=16, le=1_000_000, description="Most keys kept in the lookup cache.")

    @field_validator("header")
    @classmethod
    def _h(cls, v: str) -> str:
        if not _HEADER.match(v):
            raise ValueError("header must be a plain header name such as x-api-key")
        if v.lower() == "authorization":
            raise ValueError("use a header other than Authorization for API keys (Authorization carries bearer tokens)")
        return v.lower()


class JwtConfig(FilterConfig):
    """Bearer JWTs verified against a JWKS URL, static JWKs, or (explicitly) a shared HS256 secret."""

    issuer: str = Field(..., description="Required `iss`: tokens from any other issuer are refused.")
    audience: list[str] = Field(..., min_length=1, description="Accepted `aud` values; a token must name at least one.")
    jwks_url: str | None = Field(None, description="HTTPS URL of the issuer's JWKS (fetched when needed, cached, refreshed on an unknown kid).")
    jwks: list[dict[str, str | list[str]]] = Field(
        default_factory=list, description="Static public JWKs (each with a kid), used alone or with jwks_url."
    )
    hs256_secret: SecretStr | None = Field(
        None, description="Shared secret for HS256 (`${ENV}` or `file:`); HS256 is accepted only when this is set."
    )
    algorithms: list[Alg] = Field(
        default_factory=lambda: list(_DEFAULT_ALGS),
        description="Accepted `alg` values; `none` never is. HS256 needs hs256_secret.",
    )
    leeway: float = Field(30.0, ge=0, le=300, description="Seconds of clock skew allowed for exp, nbf and iat.")
    consumer_claim: str = Field("sub", description="Claim naming the consumer (e.g. sub, azp or client_id).")
    scopes_claim: str = Field("scope", description="Claim with the granted scopes (space-separated string or list).")
    require_consumer: bool = Field(
        False, description="Refuse tokens whose consumer is not declared here or in the store."
    )
    default_purpose: Purpose = Field(
        "third_party", description="Purpose of a token's consumer that is not declared (least trust by default)."
    )
    jwks_refresh: float = Field(600.0, ge=10, description="Seconds a fetched JWKS is used before it is fetched again.")
    refetch_interval: float = Field(
        30.0, ge=1, description="Least seconds between JWKS fetches caused by unknown kids (an attacker cannot turn kids into a flood)."
    )
    cache_size: int = Field(10_000, ge=16, le=1_000_000, description="Most verified tokens cached (by SHA-256 of the token).")
    cache_seconds: float = Field(300.0, ge=0, description="Longest a verified token is served from the cache (never past its exp).")
    max_token_bytes: int = Field(8192, ge=256, le=65536, description="Longer tokens are refused without parsing.")

    @field_validator("jwks_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("jwks_url must be https:// (plain http only on loopback, for tests)")
        return v

    @model_validator(mode="after")
    def _sources(self) -> Self:
        if "HS256" in self.algorithms and self.hs256_secret is None:
            raise ValueError("HS256 is listed in algorithms but no hs256_secret is set")
        if self.hs256_secret is not None and "HS256" not in self.algorithms:
            raise ValueError("hs256_secret is set: add HS256 to algorithms to accept it")
        if not self.jwks_url and not self.jwks and self.hs256_secret is None:
            raise ValueError("jwt needs keys: jwks_url, jwks or hs256_secret")
        for i, k in enumerate(self.jwks):
            if "d" in k or "p" in k or "k" in k:
                raise ValueError(f"jwks[{i}] holds private or symmetric key material; list public keys only")
        return self


class MtlsConfig(FilterConfig):
    """Verified client certificates (listener `client_auth`) mapped to consumers."""

    match: Literal["subject", "san"] = Field("subject", description="Match the RFC 4514 subject or any subject alternative name.")
    consumers: dict[str, str] = Field(
        ..., min_length=1, description='Certificate subject (or SAN) -> consumer name, e.g. {"CN=partner,O=Example": partner-app}.'
    )


class AuthnConfig(FilterConfig):
    """Who is calling: API keys, JWTs and client certificates mapped to consumers."""

    enabled: bool = Field(True, description="Turn authentication off (it is inert anyway until a credential source is set).")
    consumers: list[ConsumerConfig] = Field(default_factory=list, description="Consumers declared in the config.")
    api_keys: ApiKeysConfig | None = Field(None, description="Accept API keys.")
    jwt: JwtConfig | None = Field(None, description="Accept bearer JWTs.")
    mtls: MtlsConfig | None = Field(None, description="Accept verified client certificates.")
    realm: str = Field("cpragate", pattern=r"^[A-Za-z0-9 ._-]{1,64}$", description="Realm in WWW-Authenticate challenges.")
    forward_header: str | None = Field(
        "x-cpragate-consumer",
        description="Header telling the upstream the authenticated consumer's name; a client-sent copy is always removed. null: none.",
    )
    forward_credentials: bool = Field(
        False, description="Forward the API key header upstream (the Authorization header is always forwarded)."
    )
    on_error: Literal["deny", "allow"] = Field(
        "deny",
        description="When the key store or JWKS cannot be read: deny (503), or allow credentials verified before from the last good data (logged every time).",
    )

    @property
    def active(self) -> bool:
        return self.enabled and (self.api_keys is not None or self.jwt is not None or self.mtls is not None)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [c.name for c in self.consumers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"consumers declared twice: {dup}")
        if self.api_keys is not None:
            prefixes = [k.prefix for k in self.api_keys.keys]
            if len(set(prefixes)) != len(prefixes):
                raise ValueError("api_keys.keys lists a prefix twice")
        return self


class RouteAuth(FilterConfig):
    """A route's authentication settings (``routes[].auth``)."""

    anonymous: bool = Field(False, description="Serve this route without credentials (health checks, public data).")
    methods: list[Method] | None = Field(None, description="Credentials this route accepts (default: every configured one).")
    query_key: str | None = Field(
        None,
        description="Also read the API key from this query parameter. Keys in URLs end up in logs and histories: reported as a finding.",
    )
    required_claims: list[str] = Field(default_factory=list, description="JWT claims that must be present (else 403).")
