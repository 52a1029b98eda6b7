"""Config of the audit filter (``filters.audit``) and of a route's own audit settings.

The trail is written in two steps so a crash loses nothing (DESIGN.md): a begin record
is spooled locally before the request is forwarded, the completion after the response;
a background writer ships events to the sink (SQLite by default, PostgreSQL for
several gateways). A route names where its data subject is (``routes[].audit.subject_param``
or ``subject_json``) so ``cpragate dsar`` can answer a right-to-know request.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from cpragate.core.filter import FilterConfig

__all__ = ["AuditCheckpoints", "AuditConfig", "AuditRouteSettings", "AuditSpool", "parse_json_path"]


def parse_json_path(path: str) -> tuple[str | int | None, ...]:
    """``$.a.b``, ``$.items[*].id``, ``$[0].id`` → steps (None is ``[*]``).

    :raises ValueError: not this small JSONPath subset.
    """
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with $ (e.g. $.customer_id or $.items[*].customer_id)")
    steps: list[str | int | None] = []
    i, n = 1, len(path)
    while i < n:
        c = path[i]
        if c == ".":
            j = i + 1
            while j < n and path[j] not in ".[":
                j += 1
            name = path[i + 1 : j]
            if not name:
                raise ValueError(f"JSON path {path!r} has an empty name")
            steps.append(name)
            i = j
        elif c == "[":
            j = path.find("]", i)
            if j < 0:
                raise ValueError(f"JSON path {path!r} has an unclosed [")
            inner = path[i + 1 : j].strip()
            if inner == "*":
                steps.append(None)
            elif inner.isdigit():
                steps.append(int(inner))
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                steps.append(inner[1:-1])
            else:
                raise ValueError(f"JSON path {path!r}: [{inner}] must be [*], [N] or ['name']")
            i = j + 1
        else:
            raise ValueError(f"JSON path {path!r}: unexpected {c!r}")
    return tuple(steps)


class AuditRouteSettings(FilterConfig):
    """One route's audit settings (``routes[].audit``)."""

    enabled: bool | None = Field(
        None, description="Audit this route (true) or never (false); null follows `filters.audit.routes`."
    )
    required: bool | None = Field(
        None,
        description="Refuse requests (503, CPG-AUD-005) while the audit spool is full; null follows "
        "`filters.audit.required`. false forwards them and records what it still can.",
    )
    subject_param: str | None = Field(
        None,
        description="The path parameter that names the data subject, e.g. `id` for /v1/customers/{id}. "
        "Its value is recorded only as the subject's pseudonym.",
    )
    subject_json: list[str] = Field(
        default_factory=list,
        description="JSON paths in the response body that name data subjects ($.customer_id, "
        "$.items[*].customer_id). Read only when the route's response body is inspected "
        "(routes marked personal, with the pii filter on).",
    )

    @field_validator("subject_json")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            parse_json_path(p)
        return v


class AuditSpool(FilterConfig):
    """The local append-only spool every record goes to before it is shipped."""

    dir: str = Field("{state_dir}/audit-spool", description="Spool folder ({state_dir} is expanded); one slot per process.")
    max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=64 * 1024,
        description="Bound of the spool. When unshipped records reach it (sink down), audited routes answer 503 "
        "and an alert is logged; records already accepted are never dropped.",
    )
    segment_bytes: int = Field(
        16 * 1024 * 1024, ge=16 * 1024, description="Size of one preallocated spool segment file."
    )
    fsync_window_ms: float = Field(
        20.0,
        ge=0,
        description="Records are flushed to disk once per window (fdatasync on Linux, by the spool's fsync thread, without stopping the event loop). A process crash loses nothing; "
        "an OS crash or power loss loses at most this window. 0 flushes every record (slow).",
    )


class AuditCheckpoints(FilterConfig):
    every_events: int = Field(10_000, ge=1, description="Sign the chain head at least every N events.")
    every_seconds: float = Field(60.0, gt=0, description="... and at least every N seconds while events flow.")


class AuditConfig(FilterConfig):
    """Tamper-evident audit trail: one event per exchange, spooled locally, shipped to SQLite or PostgreSQL."""

    enabled: bool = Field(
        False,
        description="Write the audit trail. Off by default in this version: turn it on for compliance evidence "
        "(the demo policy does).",
    )
    routes: Literal["all", "personal"] = Field(
        "all", description="Which routes are audited: every route, or those marked `personal: true`."
    )
    required: bool = Field(
        True, description="Default for `routes[].audit.required`: refuse requests (503) while the spool is full."
    )
    sink: str = Field(
        "sqlite:///{state_dir}/audit.db",
        description="Where events are stored: sqlite:///path or postgresql://user@host:port/db ({state_dir} is "
        "expanded). Several gateways share one PostgreSQL; each process keeps its own chain.",
    )
    table_prefix: str = Field("audit", description="Prefix of the sink's table names.")
    instance_id: str | None = Field(
        None,
        description="Prefix of this gateway's instance ids (default: the host name); each process adds its "
        "spool slot (`-0`, `-1`...). Must differ between machines sharing a sink.",
    )
    signing_key: SecretStr | None = Field(
        None,
        description="Ed25519 key signing chain checkpoints (PEM, or 32 bytes hex/base64; write it file:/path or "
        "${ENV}). Default: {state_dir}/audit-signing-key.pem, created on first start.",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Master key (32+ bytes) for subject lookups and path tokens; gateways sharing a sink must "
        "share it. Default: {state_dir}/audit-pseudonym.key, created on first start.",
    )
    spool: AuditSpool = Field(default_factory=AuditSpool, description="The local spool.")
    checkpoint: AuditCheckpoints = Field(default_factory=AuditCheckpoints, description="Signed checkpoints.")
    jsonl: str | None = Field(
        None,
        description="Also append every shipped event as a JSON line to this file (for a SIEM; at least once: "
        "dedupe by instance and seq).",
    )
    retention_days: int = Field(
        730,
        ge=1,
        description="How long events are kept by `cpragate audit purge` without --older-than (24 months: "
        "the CPRA regulations' record-keeping period, 11 CCR 7101).",
    )

    @field_validator("sink")
    @classmethod
    def _sink(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("audit sink must be sqlite:///path or postgresql://user@host:port/db")
        return v

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v[:1].isalpha() or not v.replace("_", "").isalnum() or len(v) > 40:
            raise ValueError("table_prefix must be letters, digits and _, starting with a letter")
        return v

    @model_validator(mode="after")
    def _spool(self) -> Self:
        if self.spool.segment_bytes > self.spool.max_bytes:
            raise ValueError("spool.segment_bytes must not exceed spool.max_bytes")
        return self
