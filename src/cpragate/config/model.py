"""The configuration schema. Every field's ``description`` is its documentation.

Secrets (private keys, passwords) are never stored in these models as text: fields
that hold one are ``SecretStr`` and may be written ``${ENV_VAR}`` or ``file:/path``
(config/load.py resolves them); ``config check`` and error messages never print them.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from cpragate.admin.config import AdminConfig
from cpragate.core.router import TemplateError, parse_template
from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings
from cpragate.filters.authn.config import AuthnConfig, RouteAuth
from cpragate.filters.authz.config import AuthzConfig, AuthzRule
from cpragate.filters.cors.config import CorsConfig, CorsPolicy
from cpragate.filters.inventory.config import InventoryConfig
from cpragate.filters.metrics.config import MetricsConfig
from cpragate.filters.minimize.config import MinimizeConfig, MinimizeRouteSettings
from cpragate.filters.pii.config import PiiFilterConfig, PiiRouteSettings
from cpragate.filters.ratelimit.config import RateLimitConfig, RouteRateLimit
from cpragate.filters.security_headers.config import SecurityHeadersConfig
from cpragate.filters.validation.config import (
    ConformanceConfig,
    ConformanceRouteSettings,
    OpenApiBinding,
    ValidationConfig,
    ValidationRouteSettings,
)

__all__ = [
    "GatewayConfig",
    "Limits",
    "Listener",
    "ListenerTls",
    "Route",
    "StorageConfig",
    "Upstream",
    "UpstreamTls",
]

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _bind(v: str) -> str:
    host, sep, port = v.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"bind {v!r} must be HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443")
    return v


class ListenerTls(_Model):
    """TLS on a client-facing listener."""

    cert_file: str = Field(..., description="PEM certificate chain presented to clients.")
    key_file: str = Field(..., description="PEM private key of the certificate (keep it readable by the gateway only).")
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="Lowest TLS version accepted; 1.0 and 1.1 are never allowed.")
    client_auth: Literal["none", "optional", "required"] = Field(
        "none", description="Ask clients for a certificate (mTLS). `required` refuses handshakes without a valid one."
    )
    client_ca_file: str | None = Field(
        None, description="PEM bundle of the CAs that issue client certificates; required when client_auth is not none."
    )

    @model_validator(mode="after")
    def _ca_needed(self) -> Self:
        if self.client_auth != "none" and not self.client_ca_file:
            raise ValueError("client_auth needs client_ca_file: the CA bundle that issues client certificates")
        return self


class Listener(_Model):
    """A client-facing socket."""

    name: str = Field("public", description="Name used in logs and metrics.")
    bind: Annotated[str, Field(description="HOST:PORT to listen on.")]
    tls: ListenerTls | None = Field(None, description="Serve HTTPS; omit for plain HTTP (only for local use or behind a TLS proxy).")
    redirect_to_https: str | None = Field(
        None,
        description="Make this plain listener answer every request with a 308 redirect to this HTTPS base URL (e.g. https://api.example.com); nothing is proxied.",
    )

    @field_validator("bind")
    @classmethod
    def _v_bind(cls, v: str) -> str:
        return _bind(v)

    @model_validator(mode="after")
    def _redirect(self) -> Self:
        if self.redirect_to_https is not None:
            if self.tls is not None:
                raise ValueError("redirect_to_https is for plain listeners; remove tls or the redirect")
            if not self.redirect_to_https.startswith("https://"):
                raise ValueError("redirect_to_https must be an https:// URL")
        return self


class UpstreamTls(_Model):
    """TLS towards an upstream (the gateway is the client)."""

    verify: bool = Field(True, description="Verify the upstream's certificate and name. Turning this off is reported as a finding.")
    ca_file: str | None = Field(None, description="PEM CA bundle to verify the upstream with (default: the system store).")
    cert_file: str | None = Field(None, description="Client certificate for mTLS to the upstream.")
    key_file: str | None = Field(None, description="Private key of cert_file.")
    server_name: str | None = Field(None, description="Name to send in SNI and verify, if not the URL's host.")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mTLS needs both)")
        return self


class Timeouts(_Model):
    connect: float = Field(5.0, gt=0, description="Seconds to establish a connection (TCP + TLS) to the upstream.")
    read: float = Field(30.0, gt=0, description="Seconds to wait for the upstream's response head, and between body chunks.")


class Pool(_Model):
    max_idle: int = Field(64, ge=0, le=10_000, description="Idle keep-alive connections kept per upstream.")
    idle_timeout: float = Field(30.0, gt=0, description="Seconds an idle upstream connection is kept.")


class Upstream(_Model):
    """An API the gateway forwards to."""

    url: str = Field(..., description="Base URL, https://host[:port] (a path prefix is prepended to forwarded paths).")
    allow_plaintext: bool = Field(
        False, description="Allow an http:// URL. Personal information then travels unencrypted on this hop: reported as a finding."
    )
    tls: UpstreamTls = Field(default_factory=UpstreamTls, description="TLS settings for https:// upstreams.")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Connect and read timeouts.")
    pool: Pool = Field(default_factory=Pool, description="Keep-alive connection pool.")
    preserve_host: bool = Field(False, description="Forward the client's Host header instead of the upstream's host.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            # The value is not echoed: a URL may carry credentials.
            raise ValueError("upstream url must be https://host[:port][/prefix]")
        if u.query or u.fragment or u.username:
            raise ValueError("upstream url must not carry a query, fragment or credentials")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _plaintext(self) -> Self:
        if self.url.startswith("http://") and not self.allow_plaintext:
            raise ValueError(
                "http:// upstream without TLS: use https://, or set allow_plaintext: true to accept an unencrypted hop"
            )
        return self


class Route(_Model):
    """A method + path template served by one upstream through the filter chain."""

    name: str | None = Field(None, description="Name for logs and metrics (default: the template).")
    path: str = Field(..., description="Path template: /v1/customers/{id}; a final /** matches any rest of the path.")
    methods: list[str] = Field(
        default_factory=lambda: ["GET", "HEAD"],
        description='Methods served; "*" for any. Anything not listed is refused (405).',
    )
    upstream: str = Field(..., description="Name of an entry in `upstreams`.")
    personal: bool = Field(
        False, description="The route carries personal information: responses get Cache-Control: no-store and are audited as such."
    )
    filters: list[str] | None = Field(
        None, description="Filters this route runs (names); omit for every enabled filter, [] for a plain passthrough."
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=0, description="Largest body buffered for a filter that inspects bodies (request or response)."
    )
    on_body_too_large: Literal["deny", "pass_uninspected"] = Field(
        "deny",
        description="What happens when a body to inspect is larger than max_body_bytes: deny (413/502) or pass it uninspected (logged every time).",
    )
    read_timeout: float | None = Field(None, gt=0, description="Override the upstream's read timeout for this route.")
    cors: CorsPolicy | None = Field(None, description="CORS policy; omit and the route sends no CORS headers.")
    auth: RouteAuth | None = Field(None, description="Authentication on this route (anonymous, accepted credentials, required claims).")
    authz: AuthzRule | None = Field(None, description="Who may call this route and which objects they may reach (scopes, purposes, object rules).")
    ratelimit: RouteRateLimit | None = Field(None, description="This route's own rate limits (per consumer, per IP, whole route).")
    audit: AuditRouteSettings | None = Field(
        None, description="Audit settings for this route: where the response names its data subject, whether audit is required."
    )
    openapi: OpenApiBinding | None = Field(
        None,
        description="The OpenAPI operation describing this route (written for you by `from_openapi` entries): "
        "requests are validated against it and responses checked for conformance.",
    )
    validation: ValidationRouteSettings | None = Field(None, description="Request validation settings for this route.")
    conformance: ConformanceRouteSettings | None = Field(None, description="Response conformance settings for this route.")
    minimize: MinimizeRouteSettings | None = Field(
        None, description="Data minimization rules per consumer or purpose; omit and bodies pass unminimized."
    )
    pii: PiiRouteSettings | None = Field(
        None, description="This route's PII settings (inspect or not, action rules, failure policy); omit to follow `filters.pii`."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        try:
            parse_template(v)
        except TemplateError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        out = [m.upper() for m in v]
        bad = [m for m in out if m not in _METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {bad}; use {sorted(_METHODS)}")
        if not out:
            raise ValueError("a route needs at least one method")
        return out


class Limits(_Model):
    """Protocol limits (every one bounded, STYLE §7.12)."""

    max_header_bytes: int = Field(32 * 1024, ge=1024, description="Largest request line + headers, in bytes (431 beyond).")
    max_headers: int = Field(100, ge=8, description="Most request headers (431 beyond).")
    max_connections: int = Field(10_000, ge=1, description="Concurrent client connections per worker; more are closed at once.")
    header_timeout: float = Field(10.0, gt=0, description="Seconds a client may take to send the request head (slow-loris guard).")
    body_timeout: float = Field(30.0, gt=0, description="Seconds of silence allowed while a client sends a request body.")
    idle_timeout: float = Field(60.0, gt=0, description="Seconds an idle keep-alive client connection is kept.")
    send_timeout: float = Field(
        60.0, gt=0, description="Seconds a client may leave the response unread (socket buffer full) before the connection is aborted."
    )
    keepalive_requests: int = Field(10_000, ge=1, description="Requests served on one client connection before it is closed.")
    drain_timeout: float = Field(20.0, ge=0, description="Seconds SIGTERM waits for in-flight requests before closing.")
    malloc_mmap_threshold: int = Field(
        128 * 1024, ge=0, le=32 * 1024 * 1024,
        description="glibc only: allocations this large (bytes) always come from mmap and are returned when freed, so "
        "per-connection TLS buffers never fragment the heap (0: glibc's dynamic threshold, which lets RSS creep; server/memory.py).",
    )  # fmt: skip
    malloc_trim_interval: float = Field(
        10.0, ge=0, description="glibc only: seconds between malloc_trim calls handing free heap pages back to the kernel (~1 ms each; 0: never)."
    )
    batch_writes: bool = Field(
        True,
        description="Write what the loop answered on its client connections, and the requests it forwards on its "
        "upstream connections, once it has handled every event that was ready, not one write per message at once: a "
        "client (or load generator) reading many connections, or an upstream serving many of the pool's connections, "
        "then wakes once per batch instead of once per message (bench/RESULTS.md, sessions 9 and 12). A connection's "
        "bytes keep their order and a close writes them first; the latency added is at most the rest of the loop's pass.",
    )
    gc_young_threshold: int = Field(
        50_000, ge=0, le=10_000_000,
        description="Python's cyclic garbage collector: net container allocations between two collections of its youngest "
        "generation. CPython's 700 is crossed every few dozen requests under load by the requests in flight alone "
        "(~17 µs of collection per request under the demo policy, and full collections of the whole heap every few "
        "seconds), 10,000 every few hundred by the records waiting for the audit writer's next batch; a served request "
        "leaves no cyclic garbage, so a larger value keeps little memory longer (0: the interpreter's default; "
        "server/memory.py).",
    )  # fmt: skip


class Routing(_Model):
    case_sensitive: bool = Field(True, description="Match paths case-sensitively (false: /ADMIN is /admin).")
    allow_semicolon: bool = Field(False, description="Accept ';' in paths (matrix parameters). Off: refused, since some servers strip ';…'.")
    method_override: bool = Field(
        False,
        description="Honour X-HTTP-Method-Override / X-HTTP-Method / X-Method-Override on POST: the named method is routed, "
        "checked and forwarded instead of POST. Off (default): these headers are removed before forwarding, so an upstream "
        "that honours them can never run a method the gateway did not check.",
    )


class StorageConfig(_Model):
    """Where state lives. The embedded default needs no server."""

    url: str = Field(
        "sqlite:///{state_dir}/state.db",
        description="memory:// | sqlite:///path | redis://host:port/db | postgresql://… ({state_dir} is expanded).",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("memory://", "sqlite:///", "redis://", "rediss://", "postgresql://", "postgres://")):
            raise ValueError("storage url must start with memory://, sqlite:///, redis:// or postgresql://")
        return v

    redis: str | None = Field(
        None,
        description="redis://host:port/db for state several processes or machines share (rate limits, served ids); `?prefix=` namespaces keys. Omit to keep it in each process.",
    )

    @field_validator("redis")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://")):
            raise ValueError("storage.redis must be a redis:// or rediss:// URL")
        return v


class Logging(_Model):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    access_log: bool = Field(False, description="Log one line per request (method, route, status, latency, request id; never bodies or credentials). With the gateway's own log handler the lines are written in batches, at most 0.1 s late; the audit trail, not this log, is the durable record.")


class FiltersConfig(_Model):
    """Per-filter settings; each section is owned by its filter package."""

    authn: AuthnConfig = Field(default_factory=AuthnConfig, description="Authentication: consumers, API keys, JWT, mTLS (off until a credential source is set).")
    authz: AuthzConfig = Field(default_factory=AuthzConfig, description="Authorization defaults; the rules are per route (`routes[].authz`).")
    ratelimit: RateLimitConfig = Field(default_factory=RateLimitConfig, description="Rate limits per client IP, per consumer and per route (GCRA).")

    @model_validator(mode="before")
    @classmethod
    def _default_deny_with_authn(cls, data: object) -> object:
        """Routes without an `authz` rule are denied to identified callers exactly when
        authentication is configured (unless `authz.unruled_routes` says otherwise)."""
        if isinstance(data, dict):
            authn = data.get("authn") or {}
            active = isinstance(authn, dict) and authn.get("enabled", True) is not False and any(
                authn.get(k) is not None for k in ("api_keys", "jwt", "mtls")
            )
            authz = data.get("authz") or {}
            if isinstance(authz, dict) and "unruled_routes" not in authz:
                data = {**data, "authz": {**authz, "unruled_routes": "deny" if active else "allow_authenticated"}}
        return data

    # Two filters each share a section: the IP limiter runs before authn, the owner check
    # first in the response phase (core.registry names them; build_filters reads these).
    @property
    def ratelimit_ip(self) -> RateLimitConfig:
        return self.ratelimit

    @property
    def owner_check(self) -> AuthzConfig:
        return self.authz

    security_headers: SecurityHeadersConfig = Field(default_factory=SecurityHeadersConfig, description="Security response headers.")
    cors: CorsConfig = Field(default_factory=CorsConfig, description="CORS handling (policies are per route).")
    pii: PiiFilterConfig = Field(
        default_factory=PiiFilterConfig,
        description="Personal information in responses: on by default for routes marked `personal: true` (mask SPI, count the rest).",
    )
    validation: ValidationConfig = Field(
        default_factory=ValidationConfig,
        description="OpenAPI request validation and mass-assignment blocking on routes bound to an operation.",
    )
    conformance: ConformanceConfig = Field(
        default_factory=ConformanceConfig,
        description="Response conformance on routes bound to an operation: undeclared properties are removed.",
    )
    minimize: MinimizeConfig = Field(
        default_factory=MinimizeConfig, description="Per-purpose data minimization on routes with `minimize` rules."
    )

    audit: AuditConfig = Field(
        default_factory=AuditConfig,
        description="Tamper-evident audit trail: one event per exchange, spooled locally, shipped to SQLite or PostgreSQL.",
    )
    anomaly: AnomalyConfig = Field(
        default_factory=AnomalyConfig,
        description="Detection of scraping, enumeration, credential stuffing, exfiltration and unusual access; personal-data budgets; signed alert webhooks.",
    )
    inventory: InventoryConfig = Field(
        default_factory=InventoryConfig,
        description="The API inventory: every endpoint observed, its consumers and the personal data it serves (admin API, dashboard).",
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="Prometheus metrics for the admin listener's /metrics, and OpenTelemetry tracing."
    )

class GatewayConfig(_Model):
    """The whole gateway configuration (``cpragate config schema`` prints it as JSON Schema)."""

    _literal_secrets: list[str] = PrivateAttr(default_factory=list)
    """Key paths of secrets written as literal text in the file (set by the loader; findings)."""

    version: Literal[1] = Field(1, description="Config format version.")
    state_dir: str = Field(".cpragate", description="Folder for local state (SQLite, spools, generated certificates).")
    listeners: list[Listener] = Field(..., min_length=1, description="Client-facing sockets.")
    upstreams: dict[str, Upstream] = Field(..., min_length=1, description="APIs behind the gateway, by name.")
    routes: list[Route] = Field(..., min_length=1, description="What is served; anything else is refused (default deny).")
    filters: FiltersConfig = Field(default_factory=FiltersConfig, description="Filter settings.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peers (IPs or CIDRs) whose X-Forwarded-For is believed for the client IP; nobody's by default.",
    )
    limits: Limits = Field(default_factory=Limits, description="Protocol limits and timeouts.")
    routing: Routing = Field(default_factory=Routing, description="Path matching rules.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="State storage.")
    logging: Logging = Field(default_factory=Logging, description="Logging.")
    admin: AdminConfig | None = Field(
        None, description="The admin listener (admin API, dashboard, /metrics); omit for none. Loopback by default."
    )

    @model_validator(mode="before")
    @classmethod
    def _observers_with_admin(cls, data: object) -> object:
        """With an admin listener, the inventory and metrics observers are on unless set."""
        if not isinstance(data, dict) or not isinstance(data.get("admin"), dict):
            return data
        if data["admin"].get("enabled", True) is False:
            return data
        filters = data.get("filters") or {}
        if not isinstance(filters, dict):
            return data
        filters = dict(filters)
        for name in ("inventory", "metrics"):
            sec = filters.get(name) or {}
            if isinstance(sec, dict) and "enabled" not in sec:
                filters[name] = {**sec, "enabled": True}
        return {**data, "filters": filters}

    @field_validator("trusted_proxies")
    @classmethod
    def _nets(cls, v: list[str]) -> list[str]:
        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(f"{n!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)") from None
        return v

    @model_validator(mode="after")
    def _references(self) -> Self:
        from cpragate.core.registry import builtin_filters

        known = set(builtin_filters())
        for i, r in enumerate(self.routes):
            if r.upstream not in self.upstreams:
                raise ValueError(
                    f"at routes[{i}].upstream: route {r.path} names upstream {r.upstream!r}, which is not "
                    f"defined; defined: {sorted(self.upstreams)}"
                )
            for f in r.filters or []:
                if f not in known:
                    raise ValueError(
                        f"at routes[{i}].filters: route {r.path} names unknown filter {f!r}; known: {sorted(known)}"
                    )
        binds = [lst.bind for lst in self.listeners]
        if len(set(binds)) != len(binds):
            raise ValueError("at listeners: two listeners bind the same HOST:PORT")
        return self
