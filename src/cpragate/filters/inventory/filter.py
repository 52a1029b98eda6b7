"""The inventory observer: records every exchange's endpoint on the complete phase.

It runs for refused and unrouted exchanges too (``sees_unrouted``) and on every route,
plain passthrough routes included (``sees_every_route``): an endpoint nobody documented
but someone calls is exactly what an inventory is for. Per exchange it does a dictionary
look-up and a few increments; templating runs only for wildcard routes and unrouted
paths. The state lives in ``stores.inventory`` so a config reload keeps it.
"""

from __future__ import annotations

from typing import ClassVar

from cpragate.core.clock import readers
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.filters.inventory.config import InventoryConfig
from cpragate.filters.inventory.fastpath import InventoryFast
from cpragate.filters.inventory.model import Inventory

__all__ = ["InventoryFilter", "inventory_of"]


def inventory_of(ctx: FilterContext, cfg: InventoryConfig) -> Inventory:
    """The process's inventory: the one in ``ctx.stores`` (created there on first use)."""
    stores = ctx.stores
    inv = getattr(stores, "inventory", None) if stores is not None else None
    if not isinstance(inv, Inventory):
        inv = Inventory(cfg.max_endpoints, cfg.max_unrouted, cfg.max_consumers_per_endpoint, cfg.max_literals)
        if stores is not None:
            stores.inventory = inv
    else:  # a reload may change the bounds
        inv.max_endpoints, inv.max_unrouted = cfg.max_endpoints, cfg.max_unrouted
        inv.max_consumers = cfg.max_consumers_per_endpoint
        inv.templater.max_literals = cfg.max_literals
    return inv


class InventoryFilter(Filter):
    """Records method, template, status, consumer and PI categories of every exchange."""

    name = "inventory"
    priority = 5
    complete_priority = 5
    Config: ClassVar[type[FilterConfig]] = InventoryConfig
    sees_unrouted: ClassVar[bool] = True
    sees_every_route: ClassVar[bool] = True

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        if not isinstance(config, InventoryConfig):
            raise TypeError("InventoryFilter needs an InventoryConfig")
        self.inventory = inventory_of(ctx, config)
        self._fast = InventoryFast(self.inventory, *readers(ctx.clock))
        """The per-exchange work (fastpath.py, compiled)."""
        self.complete_now = self._fast.complete_now  # type: ignore[method-assign]

    def complete_now(self, exchange: Exchange) -> bool:
        """The whole complete phase, synchronously (bound to fastpath.py in __init__: the
        pipeline calls the native method, no coroutine)."""
        return self._fast.complete_now(exchange)

    async def on_complete(self, exchange: Exchange) -> None:
        self._fast.complete(exchange)
