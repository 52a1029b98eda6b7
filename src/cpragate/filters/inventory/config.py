"""Config of the inventory observer (``filters.inventory``)."""

from __future__ import annotations

from pydantic import Field

from cpragate.core.filter import FilterConfig

__all__ = ["InventoryConfig"]


class InventoryConfig(FilterConfig):
    """What the gateway remembers about the endpoints it sees (never values: templates,
    counts, consumer names, CPRA categories)."""

    enabled: bool = Field(
        False,
        description="Observe every exchange (refused and unrouted ones too) into the inventory. "
        "On by default when the `admin` listener is configured.",
    )
    max_endpoints: int = Field(
        5_000, ge=10, le=1_000_000, description="Most endpoints (method + template) kept; more are counted as overflow."
    )
    max_unrouted: int = Field(
        500,
        ge=0,
        le=100_000,
        description="Most endpoints kept for requests no route serves (probes, shadow APIs); they count in max_endpoints too.",
    )
    max_consumers_per_endpoint: int = Field(
        100, ge=1, le=10_000, description="Distinct consumers named per endpoint; the rest are counted as `(other)`."
    )
    max_literals: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Distinct literal path segments kept at one position of a wildcard or unrouted path; "
        "beyond it a new one becomes `{param}` (a client cannot fill the inventory with names).",
    )
