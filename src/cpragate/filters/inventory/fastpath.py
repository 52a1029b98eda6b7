"""The inventory observer's per-exchange work, compiled with mypyc (cpragate/_accel.py; this
source runs as is when the build is missing or stale).

Every exchange of every route goes through it: it reads the exchange and calls
``Inventory.record`` (model.py, same compiled group) natively. Templating runs only for
wildcard routes and unrouted paths (templating.py, interpreted).
"""

from __future__ import annotations

from collections.abc import Callable

from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.filters.inventory.model import Inventory

__all__ = ["InventoryFast"]


class InventoryFast:
    """Records one completed exchange (the filter's ``on_complete``)."""

    def __init__(self, inventory: Inventory, time: Callable[[], float], mono: Callable[[], float]) -> None:
        self.inventory = inventory
        self.time = time
        self.mono = mono
        self.wild: dict[int, str | None] = {}
        """id(route) -> the literal part of its ``/**`` template, or None for a plain template."""

    def wildcard_prefix(self, route: RouteInfo) -> str | None:
        """The literal part of a ``/**`` route (``/static/``), or None for a plain template."""
        key = id(route)
        if key in self.wild:
            return self.wild[key]
        t = route.template
        p = t[:-2] if t.endswith("/**") else None
        self.wild[key] = p
        return p

    def complete_now(self, exchange: Exchange) -> bool:
        """The filter's ``complete_now`` (bound on it): the whole phase, never an await."""
        self.complete(exchange)
        return True

    def complete(self, exchange: Exchange) -> None:
        route = exchange.route
        req = exchange.request
        method = req.method
        inv = self.inventory
        if route is not None:
            prefix = self.wildcard_prefix(route)
            template = route.template if prefix is None else inv.templater.template(method, req.path, prefix)
            name: str | None = route.name
        else:
            template = inv.templater.template(method, req.path)
            name = None
        resp = exchange.response
        ident = exchange.identity
        started = exchange.started
        inv.record(
            method,
            template,
            name,
            resp.status if resp is not None else 0,
            ident.consumer if ident is not None else None,
            self.time(),
            exchange.outcome != "served",
            exchange.pii,
            (self.mono() - started) * 1000.0 if started else 0.0,
        )
