"""The inventory observer's compiled per-exchange work: templates and the record it makes."""

from __future__ import annotations

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.route import RouteInfo
from cpragate.filters.inventory.fastpath import InventoryFast
from cpragate.filters.inventory.model import Inventory
from cpragate.pii.engine import Annotations
from cpragate.testing import make_exchange, make_request, make_response

CUSTOMER = RouteInfo("getCustomer", "/v1/customers/{id}", ("GET",), "api")
WILD = RouteInfo("files", "/files/**", ("GET",), "api")


def test_wildcard_prefix_is_computed_once_per_route() -> None:
    fast = InventoryFast(Inventory(), FakeClock().time, FakeClock().monotonic)
    assert fast.wildcard_prefix(WILD) == "/files/" and fast.wildcard_prefix(CUSTOMER) is None
    assert fast.wild == {id(WILD): "/files/", id(CUSTOMER): None}
    assert fast.wildcard_prefix(WILD) == "/files/" and len(fast.wild) == 2


def test_complete_records_the_exchange() -> None:
    clock = FakeClock()
    inv = Inventory()
    fast = InventoryFast(inv, clock.time, clock.monotonic)
    ann = Annotations()
    ann.add("us_ssn", "identifiers", True, "mask", 2)
    ex = make_exchange(make_request("GET", "/v1/customers/42"), route=CUSTOMER)
    ex.started = clock.monotonic()
    clock.advance(0.003)
    ex.response = make_response(200)
    ex.outcome = "served"
    ex.pii = ann
    ex.identity = Identity("support-app", "service_provider", "api_key", "cpg_x")
    assert fast.complete_now(ex) is True  # the filter's complete_now: the whole phase
    wild = make_exchange(make_request("GET", "/files/550e8400-e29b-41d4-a716-446655440000"), route=WILD)
    wild.outcome = "denied"
    fast.complete(wild)
    ep = inv.endpoints[("GET", "/v1/customers/{id}")]
    assert (ep.requests, ep.denied, ep.statuses, ep.consumers, ep.categories, ep.spi, ep.recipients) == (
        1, 0, {200: 1}, {"support-app": 1}, {"identifiers": 2}, 2, {"support-app": 1},
    )  # fmt: skip
    assert round(ep.latency_ms_sum, 6) == 3.0 and ep.last_seen == clock.time()
    w = inv.endpoints[("GET", "/files/{uuid}")]
    assert (w.route, w.denied, w.statuses, w.consumers) == ("files", 1, {0: 1}, {"(anonymous)": 1})
