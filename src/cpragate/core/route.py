"""The runtime view of one configured route, built once at config load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cpragate.core.pipeline import Pipeline

__all__ = ["RouteInfo"]


@dataclass(slots=True, eq=False)
class RouteInfo:
    """What the data plane and the filters need to know about the matched route.

    ``settings`` holds the route's own config object (typed per filter by the filters
    that read it, e.g. the CORS policy); the core never looks inside.
    """

    name: str
    template: str
    methods: tuple[str, ...]
    upstream: str
    personal: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    on_body_too_large: Literal["deny", "pass_uninspected"] = "deny"
    read_timeout: float = 30.0
    connect_timeout: float = 5.0
    pipeline: Pipeline | None = None
    settings: Any = None  # Any, not object: mypyc resolves dataclass field types by name at import
    tags: frozenset[str] = field(default_factory=frozenset)
