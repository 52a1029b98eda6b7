"""Config of the anomaly filter (``filters.anomaly``): detectors, budgets, alert delivery.

Every detector counts per consumer (or per client IP / API key prefix) in a sliding
window of ``window`` seconds and compares the count with a threshold drawn from a
baseline: ``max(floor, factor × baseline)``. The baseline is the larger of a fast and a
slow moving average of the subject's own completed windows; a subject with little
history is pulled towards the *population prior* (the average window of every consumer,
seeded with ``prior``) in proportion to ``prior_weight`` windows, so a new consumer is
judged against the population until it has its own history. A window over its
threshold is learned clamped to the threshold (an attack barely moves the baseline).

Defaults were chosen with ``cpragate replay`` (bench/ANOMALY_RESULTS.md): every attack
kind of the replay is detected within 60 s of its onset with under one false alarm per
100,000 benign requests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from cpragate.core.access import Purpose
from cpragate.core.filter import FilterConfig
from cpragate.pii.categories import Category

__all__ = [
    "AnomalyConfig",
    "Budget",
    "CredentialConfig",
    "EnumerationConfig",
    "ExfiltrationConfig",
    "ScrapingConfig",
    "UnusualConfig",
    "WebhookConfig",
]

Severity = Literal["low", "medium", "high", "critical"]
ResponseAction = Literal["none", "throttle", "block"]

_RESPONSE = "Automatic response on an alert: none, throttle (the rate limiter's `throttle` rate) or block (403, CPG-RATE-005) the subject for `duration` seconds."


class _Detector(FilterConfig):
    enabled: bool = Field(True, description="Run this detector.")
    window: float = Field(60.0, ge=5, le=86_400, description="Sliding window in seconds.")
    factor: float = Field(5.0, ge=1, le=1000, description="Threshold = max(floor, factor × baseline).")
    prior_weight: float = Field(
        10.0, ge=0, le=10_000, description="How many windows of the population prior a subject's own history is weighed against."
    )
    sigmas: float = Field(
        6.0, ge=0, le=100, description="The threshold is also at least the subject's mean window plus this many standard deviations."
    )
    severity: Severity = Field("high", description="Severity of the alerts it raises.")
    response: ResponseAction = Field("none", description=_RESPONSE)
    duration: float = Field(600.0, ge=1, le=7 * 86_400, description="How long an automatic throttle or block lasts, in seconds.")
    cooldown: float = Field(
        600.0, ge=0, le=7 * 86_400, description="After an alert, the same detector stays quiet about the same subject this long."
    )


class ScrapingConfig(_Detector):
    """Scraping / mass harvesting: distinct data subjects a consumer receives per window."""

    floor: int = Field(100, ge=1, description="Never alert below this many distinct subjects per window.")
    prior: float = Field(20.0, ge=0, description="Population prior: distinct subjects per window of a typical consumer.")
    per_response: int = Field(
        10, ge=1, le=10_000,
        description="New subjects one response counts for at most: harvesting is many requests for new subjects; "
        "one large list page is the exfiltration detector's (records) concern.",
    )
    response: ResponseAction = Field("throttle", description=_RESPONSE)


class EnumerationConfig(_Detector):
    """Enumeration / BOLA probing on object routes (routes with a path parameter)."""

    floor: int = Field(30, ge=1, description="Never alert below this many refused (403/404) object requests per window.")
    failure_share: float = Field(
        0.3, gt=0, le=1, description="...and only when refusals are at least this share of the object requests in the window."
    )
    sequential_floor: int = Field(
        40, ge=1, description="Alert on this many sequential id steps (|id − previous id| ≤ max_step) per window, whatever the status."
    )
    max_step: int = Field(3, ge=1, le=1000, description="Largest id difference that counts as a sequential step.")
    prior: float = Field(2.0, ge=0, description="Population prior: refused object requests per window of a typical consumer.")
    response: ResponseAction = Field("block", description=_RESPONSE)


class CredentialConfig(_Detector):
    """Credential stuffing / brute force: authentication failures per client IP and per API key."""

    floor: int = Field(20, ge=1, description="Alert at this many authentication failures per client IP per window (times the baseline factor when higher).")
    key_floor: int = Field(10, ge=1, description="Alert at this many failures against one API key prefix per window.")
    prior: float = Field(1.0, ge=0, description="Population prior: failures per window of a typical client IP.")
    response: ResponseAction = Field("block", description=_RESPONSE + " Applies to the client IP.")
    severity: Severity = Field("critical", description="Severity of the alerts it raises.")


class ExfiltrationConfig(_Detector):
    """Exfiltration: personal-data volume per consumer per window (records, SPI values, bytes)."""

    floor_records: int = Field(2000, ge=1, description="Never alert below this many PI records per window.")
    floor_spi: int = Field(1000, ge=1, description="Never alert below this many SPI values per window.")
    floor_bytes: int = Field(10_000_000, ge=1, description="Never alert below this many response bytes on personal routes per window.")
    prior_records: float = Field(100.0, ge=0, description="Population prior: PI records per window.")
    prior_spi: float = Field(10.0, ge=0, description="Population prior: SPI values per window.")
    prior_bytes: float = Field(200_000.0, ge=0, description="Population prior: response bytes on personal routes per window.")
    severity: Severity = Field("critical", description="Severity of the alerts it raises.")


class UnusualConfig(FilterConfig):
    """Unusual access: a new endpoint, a new client network, or off-hours use, once a
    consumer's habits are learned (``learn_for`` seconds and ``min_requests``)."""

    enabled: bool = Field(True, description="Run this detector.")
    learn_for: float = Field(86_400.0, ge=0, description="Seconds from a consumer's first request before it is judged.")
    min_requests: int = Field(500, ge=0, description="Requests a consumer must have made before it is judged.")
    new_endpoint: bool = Field(True, description="Alert when a consumer calls a route it never called.")
    new_network: bool = Field(True, description="Alert when a consumer calls from a network it never used.")
    off_hours: bool = Field(
        True, description="Alert when a consumer calls in an hour of the day it (almost) never uses (judged after a full day of history)."
    )
    off_hours_share: float = Field(
        0.001, gt=0, lt=1, description="An hour of the day is off-hours for a consumer when under this share of its requests fell in it."
    )
    utc_offset_hours: float = Field(0.0, ge=-14, le=14, description="Local time of the hours of the day (UTC offset).")
    ipv4_prefix: int = Field(24, ge=8, le=32, description="A client network is this IPv4 prefix length.")
    ipv6_prefix: int = Field(48, ge=16, le=128, description="A client network is this IPv6 prefix length.")
    max_routes: int = Field(512, ge=1, description="Routes remembered per consumer (bounded state).")
    max_networks: int = Field(256, ge=1, description="Client networks remembered per consumer (bounded state).")
    severity: Severity = Field("low", description="Severity of the alerts it raises.")
    response: ResponseAction = Field("none", description=_RESPONSE)
    duration: float = Field(600.0, ge=1, le=7 * 86_400, description="How long an automatic throttle or block lasts.")
    cooldown: float = Field(3600.0, ge=0, description="Off-hours alerts about one consumer at most this often (seconds).")


class Budget(FilterConfig):
    """A personal-data budget: at most ``limit`` values of ``category`` per ``per`` seconds
    to one consumer (a rate limit counted in personal data, not requests)."""

    category: str = Field(
        ..., min_length=1, description="A CPRA category (`identifiers`, `customer_records`, ...) as the pii filter counts it, or `spi` for every SPI value."
    )
    limit: int = Field(..., ge=1, description="Values of the category a consumer may receive per window.")
    per: float = Field(3600.0, ge=1, le=30 * 86_400, description="Window in seconds (fixed windows aligned to the epoch).")
    consumers: list[str] = Field(default_factory=list, description="Consumers it applies to (empty: every consumer the purposes select).")
    purposes: list[Purpose] = Field(default_factory=list, description="CPRA purposes it applies to (empty: every purpose).")

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        known = sorted(c.value for c in Category)
        if v != "spi" and v not in known:
            raise ValueError(f"budget category {v!r} is not one the pii filter counts; use spi or one of: {', '.join(known)}")
        return v


class WebhookConfig(FilterConfig):
    """Where alerts are POSTed, signed with HMAC-SHA256 (docs/monitoring.md)."""

    url: str = Field(..., description="http(s):// URL that receives each alert as JSON.")
    secret: SecretStr = Field(
        ..., description="HMAC key for the `X-Cpragate-Signature` header; use a `${ENV}` or `file:` reference, at least 16 characters."
    )
    min_severity: Severity = Field("low", description="Send only alerts at least this severe.")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for the receiver per attempt.")
    max_attempts: int = Field(6, ge=1, le=20, description="Attempts per alert (exponential backoff with jitter between them).")
    backoff: float = Field(0.5, gt=0, le=60, description="First retry delay in seconds; doubles per attempt, capped at `max_backoff`.")
    max_backoff: float = Field(60.0, gt=0, le=3600, description="Longest delay between attempts.")
    queue_size: int = Field(1000, ge=1, le=1_000_000, description="Alerts waiting for delivery; beyond it the oldest waiting is dropped (logged).")
    ca_file: str | None = Field(None, description="CA bundle to verify an https receiver (default: the system's).")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("webhook url must start with http:// or https://")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 16:
            raise ValueError("webhook secret must be at least 16 characters; generate one with `openssl rand -hex 32`")
        return v


class AnomalyConfig(FilterConfig):
    """Streaming detection of scraping, enumeration, credential stuffing, exfiltration and
    unusual access, personal-data budgets, and alert delivery (docs/monitoring.md)."""

    enabled: bool = Field(False, description="Turn detection on.")
    scraping: ScrapingConfig = Field(default_factory=ScrapingConfig, description="Distinct data subjects per consumer.")
    enumeration: EnumerationConfig = Field(default_factory=EnumerationConfig, description="Id walks and refused object requests.")
    credentials: CredentialConfig = Field(default_factory=CredentialConfig, description="Authentication failures per IP and per key.")
    exfiltration: ExfiltrationConfig = Field(default_factory=ExfiltrationConfig, description="Personal-data volume per consumer.")
    unusual: UnusualConfig = Field(default_factory=UnusualConfig, description="New endpoint, new network, off-hours.")
    budgets: list[Budget] = Field(default_factory=list, description="Personal-data budgets, enforced (429 CPG-RATE-004).")
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Receivers of every alert (signed, retried, never blocking traffic).")
    max_subjects: int = Field(
        100_000, ge=100, le=10_000_000, description="Consumers, client IPs and key prefixes tracked at once (the oldest is forgotten beyond it)."
    )
    max_distinct: int = Field(10_000, ge=100, description="Distinct subjects remembered per consumer per window (bounded state).")
    shared: Literal["auto", "off"] = Field(
        "auto",
        description="auto: with `storage.redis`, instances share their detector windows (synced every `sync_interval`); "
        "off: each instance counts alone (thresholds then apply to each instance's share of the traffic).",
    )
    sync_interval: float = Field(1.0, ge=0.1, le=60, description="Seconds between two syncs of the shared detector windows.")
    per_worker: bool = Field(
        False,
        description="Accept detection kept per process with --workers > 1 and no `storage.redis` "
        "(each worker sees its share of the traffic; its blocks hold in it alone).",
    )

    @model_validator(mode="after")
    def _budgets_unique(self) -> AnomalyConfig:
        seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
        for b in self.budgets:
            k = (b.category, tuple(sorted(b.consumers)), tuple(sorted(b.purposes)))
            if k in seen:
                raise ValueError(f"two budgets for category {b.category!r} select the same consumers; merge them into one")
            seen.add(k)
        return self
