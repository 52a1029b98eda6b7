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

from typing import Literal

from pydantic import Field

from cpragate.core.filter import FilterConfig
from cpragate.pii import ActionRules, PiiConfig

__all__ = ["PiiFilterConfig", "PiiRouteSettings"]

OnError = Literal["deny", "allow"]


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
    on_error: OnError | None = Field(
        None, description="Failure policy for this route; null uses `filters.pii.on_error`."
    )


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
        description="Also inspect `text/*` responses, as plain text. Other non-JSON types "
        "(images, PDFs, octet streams) pass unread.",
    )
    on_error: OnError = Field(
        "deny",
        description="A response declared JSON (or text) that cannot be parsed or decoded: "
        "`deny` answers 502 (CPG-PII-007) instead of passing it unread; `allow` passes it "
        "unchanged and logs a warning each time.",
    )
