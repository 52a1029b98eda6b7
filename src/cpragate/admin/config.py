"""Config of the admin listener (top-level ``admin:``): bind, admin keys and roles, TLS."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["AdminConfig", "AdminKey", "AdminTls", "DetokenizeLimits", "is_loopback_bind"]

Role = Literal["admin", "read_only", "metrics", "detokenize"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback_bind(bind: str) -> bool:
    host = bind.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminKey(_Model):
    """One admin key: a name for the audit of admin actions, a role, and the key or its hash."""

    name: str = Field(..., min_length=1, max_length=64, description="Who holds the key (shown as the actor of acks and lifts).")
    role: Role = Field(
        "read_only",
        description="admin: everything but detokenize; read_only: read everything, change nothing (no ack, no lift); "
        "metrics: only /metrics; detokenize: only POST /api/detokenize (turn reversible PII tokens back into values, "
        "audited); no other role may detokenize.",
    )
    key: SecretStr | None = Field(
        None,
        description="The key itself, as `${ENV_VAR}` or `file:/path` (never written in the config). At least 24 characters.",
    )
    sha256: str | None = Field(
        None, description="Instead of `key`: the hex SHA-256 of the key (`printf %s KEY | sha256sum`), so the config holds no secret."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.@-]+", v):
            raise ValueError("admin key name must be letters, digits and _ . @ -")
        return v

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("sha256 must be 64 lower-case hex digits (printf %s KEY | sha256sum)")
        return v

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("give exactly one of key (as ${ENV} or file:) or sha256")
        if self.key is not None and len(self.key.get_secret_value()) < 24:
            raise ValueError("an admin key must be at least 24 characters (e.g. `openssl rand -base64 32`)")
        return self


class AdminTls(_Model):
    """TLS on the admin listener."""

    cert_file: str = Field(..., description="PEM certificate chain.")
    key_file: str = Field(..., description="PEM private key of the certificate.")


class DetokenizeLimits(_Model):
    """Bounds of ``POST /api/detokenize`` (per admin key)."""

    max_batch: int = Field(100, ge=1, le=1000, description="Most tokens one request may carry.")
    max_values_per_minute: int = Field(
        1000, ge=1, le=1_000_000,
        description="Most tokens one key may have looked up per minute (revealed or refused); beyond it 429.",
    )
    max_failures: int = Field(
        20, ge=1, le=10_000,
        description="Refused tokens (forged, altered, another key's) one key may send per minute; beyond it the "
        "key may not detokenize (429) until the minute has passed.",
    )
    max_audited_refusals: int = Field(
        10, ge=1, le=10_000,
        description="Refused calls audited per admin key and per client address and minute; the one past it is "
        "audited with `audit_paused: true` and further refusals in that minute are answered unaudited, so a key "
        "of any role cannot flood the audit trail.",
    )
    min_reason_chars: int = Field(
        8, ge=1, le=200, description="Shortest `reason` accepted (why the values are needed; written to the audit trail)."
    )


class AdminConfig(_Model):
    """The admin listener: admin API, dashboard and `/metrics`, on its own socket."""

    enabled: bool = Field(True, description="Serve the admin listener.")
    bind: str = Field("127.0.0.1:9901", description="HOST:PORT of the admin listener; loopback by default.")
    keys: list[AdminKey] = Field(..., min_length=1, description="Admin keys, each with a role; sent as `Authorization: Bearer KEY`.")
    tls: AdminTls | None = Field(None, description="Serve the admin listener over HTTPS (required for a non-loopback bind).")
    allow_remote_plaintext: bool = Field(
        False,
        description="Accept a non-loopback bind without TLS (admin keys then travel in clear): reported as a finding.",
    )
    metrics_auth: Literal["loopback_open", "key"] = Field(
        "loopback_open",
        description="loopback_open: /metrics needs no key when the listener binds loopback (a local Prometheus), "
        "a key of any role otherwise; key: always a key (role metrics is enough).",
    )
    session_max_rows: int = Field(1000, ge=10, le=100_000, description="Most rows one admin API answer returns.")
    detokenize: DetokenizeLimits = Field(
        default_factory=DetokenizeLimits,
        description="Bounds of POST /api/detokenize (needs a key of role detokenize and filters.audit).",
    )

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
            raise ValueError(f"bind {v!r} must be HOST:PORT, e.g. 127.0.0.1:9901")
        return v

    @model_validator(mode="after")
    def _safe(self) -> Self:
        if not is_loopback_bind(self.bind) and self.tls is None and not self.allow_remote_plaintext:
            raise ValueError(
                "admin.bind is not a loopback address and admin.tls is not set: admin keys would travel in clear; "
                "add admin.tls, bind 127.0.0.1, or set allow_remote_plaintext: true"
            )
        names = [k.name for k in self.keys]
        if len(set(names)) != len(names):
            raise ValueError("two admin keys have the same name")
        # One key listed twice (as key or as sha256, under one role or two) would get whichever
        # role authentication happened to match: refuse it, naming both entries (never the key).
        seen: dict[str, AdminKey] = {}
        for k in self.keys:
            digest = hashlib.sha256(k.key.get_secret_value().encode()).hexdigest() if k.key is not None else str(k.sha256)
            first = seen.setdefault(digest, k)
            if first is not k:
                raise ValueError(
                    f"admin keys {first.name!r} (role {first.role}) and {k.name!r} (role {k.role}) are the same key: "
                    "give each holder and role its own key"
                )
        return self
