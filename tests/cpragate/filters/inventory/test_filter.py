"""The inventory observer on the complete phase: routed, wildcard, unrouted, refused exchanges."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.filters.inventory.config import InventoryConfig
from cpragate.filters.inventory.filter import InventoryFilter
from cpragate.filters.inventory.model import Inventory
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

CUSTOMER = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")
WILD = RouteInfo("files", "/files/**", ("GET",), "api")


def complete(f: InventoryFilter, target: str, route: RouteInfo | None, status: int, *, consumer: str | None = None,
             outcome: str = "served", pii: Annotations | None = None) -> Exchange:
    ex = make_exchange(make_request("GET", target), route=route)
    ex.response = make_response(status)
    ex.outcome = outcome
    ex.pii = pii
    if consumer is not None:
        ex.identity = Identity(consumer, "contractor", "api_key", "cpg_x")
    asyncio.run(f.on_complete(ex))
    return ex


def make(stores: object = None, **cfg: object) -> InventoryFilter:
    return InventoryFilter(InventoryConfig.model_validate({"enabled": True, **cfg}), FilterContext(clock=FakeClock(), stores=stores))


def test_routed_wildcard_and_unrouted_exchanges_are_templated() -> None:
    f = make()
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "mask", 1)
    complete(f, "/v1/customers/42", CUSTOMER, 200, consumer="support-app", pii=ann)
    complete(f, "/v1/customers/43", CUSTOMER, 404, consumer="partner", outcome="denied")
    complete(f, "/files/550e8400-e29b-41d4-a716-446655440000/raw", WILD, 200)
    complete(f, "/v1/users/alice@example.com", None, 404, outcome="denied")
    eps = f.inventory.endpoints
    assert set(eps) == {
        ("GET", "/v1/customers/{id}"), ("GET", "/files/{uuid}/raw"), ("GET", "/v1/users/{email}"),
    }
    c = eps[("GET", "/v1/customers/{id}")]
    assert (c.requests, c.denied, c.consumers, c.categories, c.spi) == (2, 1, {"support-app": 1, "partner": 1}, {"identifiers": 1}, 1)
    assert eps[("GET", "/v1/users/{email}")].route is None
    assert eps[("GET", "/files/{uuid}/raw")].route == "files"
    # no concrete value anywhere in what is kept
    dump = repr([(k, vars(v) if hasattr(v, "__dict__") else v) for k, v in eps.items()]) + repr(f.inventory.snapshot())
    for secret in ("42", "alice@example.com", "550e8400"):
        assert secret not in dump


def test_state_survives_a_reload_through_the_stores() -> None:
    stores = SimpleNamespace(inventory=None)
    first = make(stores)
    complete(first, "/v1/customers/1", CUSTOMER, 200)
    second = make(stores, max_endpoints=20)
    assert second.inventory is first.inventory and second.inventory.max_endpoints == 20
    assert isinstance(stores.inventory, Inventory)


def test_a_response_less_exchange_counts_as_status_0() -> None:
    f = make()
    ex = make_exchange(make_request("GET", "/v1/customers/1"), route=CUSTOMER)
    ex.outcome = "aborted"
    asyncio.run(f.on_complete(ex))
    assert f.inventory.endpoints[("GET", "/v1/customers/{id}")].statuses == {0: 1}


def test_observer_flags_and_order() -> None:
    assert InventoryFilter.sees_unrouted and InventoryFilter.sees_every_route
    assert InventoryFilter.implements("on_complete") and not InventoryFilter.implements("on_request")
    with pytest.raises(TypeError):
        InventoryFilter(SimpleNamespace(), FilterContext())  # type: ignore[arg-type]
