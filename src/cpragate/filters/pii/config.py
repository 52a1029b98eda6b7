"""Config of the pii filter (``filters.pii``) and of a route's own pii settings.

The defaults need no configuration: responses of routes marked ``personal: true`` are
inspected and their sensitive personal information (SSN, card and account numbers,
driver's license and passport numbers, precise geolocation) is masked; other personal
information is allowed but counted; routes not marked personal are not inspected and
pay nothing.

A route can override the filter with its own :class:`PiiRouteSettings`; the filter reads
it from the route's settings object as ``settings.pii`` (the way the cors filter reads
``routes[].cors``), so adding a ``pii`` field to the route model is all it takes to
expose per-route rules in the YAML.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from cpragate.core.access import Purpose
from cpragate.core.filter import FilterConfig
from cpragate.pii import ActionRules, PiiConfig

__all__ = ["PiiFilterConfig", "PiiRouteSettings", "RequestInspection", "StreamSettings"]

OnError = Literal["deny", "allow"]
RequestMode = Literal["off", "annotate", "mask", "block"]

# type/subtype or type/* (RFC 9110 §8.3.1 tokens), lowercase.
_MEDIA_RANGE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")


def _media_ranges(v: list[str] | None) -> list[str] | None:
    if v is None:
        return None
    out = []
    for item in v:
        m = item.strip().lower()
        if m == "*/*" or not _MEDIA_RANGE.match(m):
            raise ValueError(
                f"{item!r} is not a media type or range such as image/png or image/*; "
                "*/* is not allowed (it would pass every body uninspected)"
            )
        out.append(m)
    return out


class RequestInspection(FilterConfig):
    """What the pii filter does with personal information clients send (issue 5).

    Modes: ``off`` (not looked at); ``annotate`` (found and counted for the audit trail,
    forwarded unchanged); ``mask`` (the action rules are applied and the rewritten
    request is forwarded: mask, redact, tokenize and drop change it, ``block`` refuses
    it); ``block`` (a request carrying anything the rules would not ``allow`` is refused
    with 400, CPG-PII-009; with the default rules: any sensitive personal information).

    The rules for one request, from the caller's identity (set by authn), level by
    level, first match wins: the route's ``request.by_consumer[consumer]``,
    ``request.by_purpose[purpose]``, ``request.actions``; then the same three of the
    filter's ``request``; then the route's ``actions`` (or ``engine.actions``). A
    filter-wide entry never beats a route's own request rules, and the response side's
    ``by_consumer``/``by_purpose`` never apply to requests: leave to *receive* data is
    not leave to *send* it.
    """

    body: RequestMode | None = Field(
        None,
        description="JSON, form (application/x-www-form-urlencoded), NDJSON and text request bodies. "
        "null: `annotate` at filter level, the filter's setting on a route.",
    )
    query: RequestMode | None = Field(
        None,
        description="The query string (names and values, as a form). `block` keeps sensitive data out "
        "of URLs, which end up in logs and browser histories. null: `annotate` at filter level, the "
        "filter's setting on a route.",
    )
    actions: ActionRules | None = Field(
        None,
        description="Action rules for requests (entity > category > spi > default); null: a route "
        "follows the filter's request rules, the filter follows the route's (or engine's) `actions` "
        "(never the response side's `by_consumer`/`by_purpose`)."
    )
    by_purpose: dict[Purpose, ActionRules] | None = Field(
        None,
        description="Request action rules for callers of a CPRA purpose (service_provider, contractor, "
        "third_party), over `request.actions` of the same level; a route's request rules (any of its "
        "three) come before the filter's; a consumer's own entry in `request.by_consumer` wins.",
    )
    by_consumer: dict[str, ActionRules] | None = Field(
        None,
        description="Request action rules for named consumers (e.g. the one client allowed to send SSNs), "
        "over the other request rules of the same level; a route's request rules come before the filter's.",
    )

    @field_validator("body", "query", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        # YAML 1.1 reads a bare `off` as false.
        return "off" if v is False else v


class StreamSettings(FilterConfig):
    """Element-by-element inspection of JSON array responses too large to buffer."""

    enabled: bool | None = Field(
        None,
        description="Stream JSON responses larger than the route's max_body_bytes instead of applying "
        "`on_body_too_large` (null: true). Only on routes where pii is the only filter that needs the "
        "whole response body.",
    )
    array: str | None = Field(
        None,
        description="Name of the top-level member holding the large array (`data` for "
        '`{"data": [...]}`); null: a top-level array, or the first array member of a top-level object.',
        min_length=1,
    )
    max_element_bytes: int | None = Field(
        None,
        ge=1024,
        description="Largest array element (and the members around the array) held in memory; a larger "
        "one aborts the response. null: 1 MiB.",
    )


class PiiRouteSettings(FilterConfig):
    """One route's pii settings; every field left null follows ``filters.pii``."""

    inspect: bool | None = Field(
        None,
        description="Inspect this route's responses (true) or never (false), whatever "
        "`filters.pii.routes` says; null follows it.",
    )
    actions: ActionRules | None = Field(
        None,
        description="Action rules for this route (entity > category > spi > default); "
        "null uses `filters.pii.engine.actions`.",
    )
    by_purpose: dict[Purpose, ActionRules] | None = Field(
        None,
        description="Action rules for callers of a CPRA purpose (service_provider, contractor, third_party), "
        "over this route's actions; entries here override `filters.pii.by_purpose` for the same purpose; a consumer's own entry in `by_consumer` wins.",
    )
    by_consumer: dict[str, ActionRules] | None = Field(
        None,
        description="Action rules for named consumers on this route; entries override `filters.pii.by_consumer` for the same consumer.",
    )
    on_error: OnError | None = Field(
        None, description="Failure policy for this route; null uses `filters.pii.on_error`."
    )
    pass_types: list[str] | None = Field(
        None,
        description="Media types (or ranges such as `image/*`) of responses passed uninspected on this "
        "route; null uses `filters.pii.pass_types`. Reported by `cpragate config check`.",
    )
    request: RequestInspection | None = Field(
        None, description="Request-side inspection for this route; null fields follow `filters.pii.request`."
    )
    stream: StreamSettings | None = Field(
        None, description="Streaming of large JSON array responses; null fields follow `filters.pii.stream`."
    )

    @field_validator("pass_types")
    @classmethod
    def _pass_types(cls, v: list[str] | None) -> list[str] | None:
        return _media_ranges(v)


class PiiFilterConfig(FilterConfig):
    """Detect personal information in responses and mask, redact, tokenize, drop or block it."""

    enabled: bool = Field(
        True,
        description="Run the pii filter. On by default; it inspects only the routes "
        "`routes` selects, so unmarked routes pay nothing.",
    )
    routes: Literal["personal", "all"] = Field(
        "personal",
        description="Which routes are inspected: `personal` = those marked `personal: true`, "
        "`all` = every route. A route's own `pii.inspect` wins over this.",
    )
    engine: PiiConfig = Field(
        default_factory=PiiConfig,
        description="The detection engine: entities, custom recognizers, field names, mask "
        "and tokenize options, and the default action rules (`engine.actions`; default: "
        "mask sensitive personal information, allow and count the rest). See docs/pii.md.",
    )
    text: bool = Field(
        True,
        description="Inspect `text/*` and XML responses as plain text. false passes them uninspected "
        "(reported by `cpragate config check`).",
    )
    pass_types: list[str] = Field(
        default_factory=list,
        description="Media types (or ranges such as `image/*`) passed uninspected on inspected routes. "
        "Any other body the filter cannot read (no or unknown Content-Type) is refused with 502 "
        "(CPG-PII-008). Reported by `cpragate config check`.",
    )
    request: RequestInspection = Field(
        default_factory=RequestInspection,
        description="Request-side inspection (bodies and query strings): annotate (default), mask, "
        "block or off.",
    )
    stream: StreamSettings = Field(
        default_factory=StreamSettings,
        description="Streaming of JSON array responses larger than the route's max_body_bytes.",
    )
    by_purpose: dict[Purpose, ActionRules] | None = Field(
        None,
        description="Action rules for callers of a CPRA purpose (service_provider, contractor, third_party), "
        "over `engine.actions` and a route's actions; a consumer's own entry in `by_consumer` wins.",
    )
    by_consumer: dict[str, ActionRules] | None = Field(
        None,
        description="Action rules for named consumers, over `by_purpose` and the actions above.",
    )
    on_error: OnError = Field(
        "deny",
        description="A response declared JSON (or text) that cannot be parsed or decoded: "
        "`deny` answers 502 (CPG-PII-007) instead of passing it unread; `allow` passes it "
        "unchanged and logs a warning each time.",
    )

    @field_validator("pass_types")
    @classmethod
    def _pass_types(cls, v: list[str] | None) -> list[str] | None:
        return _media_ranges(v)
