"""Config of the cors filter: the policy lives on each route (``routes[].cors``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from cpragate.core.filter import FilterConfig

__all__ = ["CorsConfig", "CorsPolicy"]


class CorsPolicy(FilterConfig):
    """A route's CORS policy (Fetch standard). Omit it and the route sends no CORS headers."""

    allow_origins: list[str] = Field(
        ...,
        min_length=1,
        description='Exact origins allowed (`https://app.example.com`), or ["*"] for any origin without credentials.',
    )
    allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "HEAD", "POST"],
        description="Methods a preflight may ask for.",
    )
    allow_headers: list[str] = Field(
        default_factory=lambda: ["content-type", "authorization", "x-api-key"],
        description="Request headers a preflight may ask for (case-insensitive).",
    )
    expose_headers: list[str] = Field(
        default_factory=lambda: ["x-request-id"],
        description="Response headers the browser app may read.",
    )
    allow_credentials: bool = Field(
        False, description="Allow cookies/Authorization; forbidden together with origin '*'."
    )
    max_age: int = Field(600, ge=0, le=86400, description="Seconds a browser may cache a preflight answer.")

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if o == "*":
                continue
            if not (o.startswith("https://") or o.startswith("http://")) or o.count("/") != 2:
                raise ValueError(
                    f"origin {o!r} must be scheme://host[:port] with no path, e.g. https://app.example.com"
                )
        return [o.lower() for o in v]

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Self:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "allow_credentials cannot be used with allow_origins ['*']; list the exact origins instead"
            )
        return self


class CorsConfig(FilterConfig):
    """Global switch of the cors filter; the policies are per route."""

    enabled: bool = Field(True, description="Turn CORS handling off (then no route sends CORS headers).")
