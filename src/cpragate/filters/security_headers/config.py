"""Config of the security_headers filter."""

from __future__ import annotations

from pydantic import Field

from cpragate.core.filter import FilterConfig

__all__ = ["SecurityHeadersConfig"]


class SecurityHeadersConfig(FilterConfig):
    """Headers every response gets on its way to the client (gateway refusals included)."""

    enabled: bool = Field(True, description="Turn the filter off entirely (not recommended).")
    hsts_max_age: int = Field(
        31_536_000,
        ge=0,
        description="Strict-Transport-Security max-age in seconds, sent on HTTPS listeners only; 0 disables HSTS.",
    )
    hsts_include_subdomains: bool = Field(True, description="Add includeSubDomains to HSTS.")
    hsts_preload: bool = Field(False, description="Add preload to HSTS (only if the domain is submitted to the preload list).")
    content_type_options: bool = Field(True, description="Send X-Content-Type-Options: nosniff.")
    frame_options: str | None = Field("DENY", description="X-Frame-Options value; null to leave the upstream's.")
    referrer_policy: str | None = Field("no-referrer", description="Referrer-Policy value; null to leave the upstream's.")
    content_security_policy: str | None = Field(
        "default-src 'none'; frame-ancestors 'none'",
        description="Content-Security-Policy set when the upstream sent none (JSON APIs need nothing more).",
    )
    remove_headers: list[str] = Field(
        default_factory=lambda: ["server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"],
        description="Response headers removed because they advertise the upstream's software (the server banner).",
    )
    personal_cache_control: str = Field(
        "no-store",
        description="Cache-Control forced on routes marked `personal: true`, so no cache keeps personal information.",
    )
