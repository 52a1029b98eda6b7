"""The inventory's records, its comparison with documented operations, and its exports."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import orjson
import pytest

from cpragate.filters.inventory.model import (
    DocumentedOp,
    Inventory,
    documented_from_routes,
    to_csv,
    to_openapi,
)
from cpragate.pii.engine import Annotations

DOCS = [
    DocumentedOp("GET", "/v1/customers/{id}", "getCustomer", False, "getCustomer"),
    DocumentedOp("GET", "/v1/legacy/{id}", "getLegacy", True, "getLegacy"),
    DocumentedOp("DELETE", "/v1/customers/{id}", "deleteCustomer", False, "deleteCustomer"),
]


def pii(**cats: int) -> Annotations:
    a = Annotations()
    for c, n in cats.items():
        a.add("us_ssn" if c == "identifiers" else "email", c, c == "identifiers", "mask", n)
    return a


def filled() -> Inventory:
    inv = Inventory()
    inv.record("GET", "/v1/customers/{id}", "getCustomer", 200, "support-app", 100.0, pii=pii(identifiers=2))
    inv.record("GET", "/v1/customers/{id}", "getCustomer", 404, "partner", 160.0, denied=True)
    inv.record("HEAD", "/v1/customers/{id}", "getCustomer", 200, None, 170.0)
    inv.record("GET", "/v1/legacy/{id}", "getLegacy", 200, "partner", 110.0)
    inv.record("GET", "/v1/admin", None, 404, None, 120.0, denied=True)
    inv.record("GET", "/internal/{id}/dump", "wild", 200, "support-app", 130.0)
    return inv


def test_record_counts_statuses_consumers_categories_and_times() -> None:
    inv = filled()
    ep = inv.endpoints[("GET", "/v1/customers/{id}")]
    assert (ep.requests, ep.denied, ep.statuses) == (2, 1, {200: 1, 404: 1})
    assert ep.consumers == {"support-app": 1, "partner": 1}
    assert (ep.categories, ep.spi, ep.first_seen, ep.last_seen) == ({"identifiers": 2}, 2, 100.0, 160.0)
    assert inv.endpoints[("HEAD", "/v1/customers/{id}")].consumers == {"(anonymous)": 1}


def test_repeated_counts_are_added_when_read_and_equal_the_sum_of_every_response() -> None:
    """Responses with the counts of the previous one are only counted (``pending``) and
    added when ``categories``/``entities`` (or a dump) are read: the totals are the sum
    of every response, whatever the order, and a read in between changes nothing."""
    shapes = [
        pii(identifiers=2, email=1),
        pii(identifiers=2, email=1),
        pii(email=3),
        Annotations(),  # no personal information
        pii(identifiers=1),
    ]
    order = [0, 1, 1, 0, 2, 2, 2, 3, 0, 4, 4, 1, 3, 3, 2, 0, 0, 0]
    inv = Inventory()
    want_c: dict[str, int] = {}
    want_e: dict[str, int] = {}
    for i, k in enumerate(order):
        a = shapes[k]
        inv.record("GET", "/r", "r", 200, "c", float(i), pii=a)
        for c, n in a.categories.items():
            want_c[c] = want_c.get(c, 0) + n
        for e, n in a.entities.items():
            want_e[e] = want_e.get(e, 0) + n
        if i == 9:  # a read in the middle settles the pending counts, once
            ep = inv.endpoints[("GET", "/r")]
            assert ep.categories == want_c and ep.entities == want_e
    ep = inv.endpoints[("GET", "/r")]
    assert ep.pending > 1  # the last responses were only counted...
    assert inv.dump()["endpoints"][0]["categories"] == want_c  # ...and a dump adds them
    assert (ep.categories, ep.entities, ep.pending) == (want_c, want_e, 0)
    assert ep.spi == sum(shapes[k].spi for k in order)
    # equality and repr see the totals, pending counts included
    twin = Inventory()
    for i, k in enumerate(order):
        twin.record("GET", "/r", "r", 200, "c", float(i), pii=shapes[k])
    assert twin.endpoints[("GET", "/r")].pending > 1 and twin.endpoints[("GET", "/r")] == ep
    inv.record("GET", "/r", "r", 200, "c", 98.0, pii=shapes[0])
    twin.record("GET", "/r", "r", 200, "c", 98.0, pii=shapes[0])
    assert ep.pending == 1 and f"categories={dict(ep.categories)!r}" in repr(ep) and ep.pending == 0
    assert twin.endpoints[("GET", "/r")] == ep
    want_c = dict(ep.categories)
    # the exchange's own dicts are never kept: changing them later changes nothing
    a = pii(identifiers=5)
    inv.record("GET", "/r", "r", 200, "c", 99.0, pii=a)
    a.categories["identifiers"] = 1000
    assert ep.categories["identifiers"] == want_c["identifiers"] + 5


def test_snapshot_states_shadow_zombie_unused() -> None:
    snap = filled().snapshot(DOCS)
    state = {(r["method"], r["template"]): r["state"] for r in snap["endpoints"]}
    assert state == {
        ("GET", "/v1/customers/{id}"): "documented",
        ("HEAD", "/v1/customers/{id}"): "documented",  # HEAD is answered by the GET operation
        ("GET", "/v1/legacy/{id}"): "zombie",
        ("GET", "/v1/admin"): "shadow",
        ("GET", "/internal/{id}/dump"): "shadow",
        ("DELETE", "/v1/customers/{id}"): "unused",
    }
    s = snap["summary"]
    assert (s["shadow"], s["zombie"], s["unused"], s["observed"]) == (2, 1, 1, 5)
    admin = next(r for r in snap["endpoints"] if r["template"] == "/v1/admin")
    assert admin["routed"] is False and admin["status_classes"] == {"4xx": 1}


def test_documented_by_shape_when_the_parameter_names_differ() -> None:
    inv = Inventory()
    inv.record("GET", "/v1/customers/{customer}", None, 404, None, 1.0, denied=True)
    snap = inv.snapshot(DOCS)
    assert snap["endpoints"][0]["state"] == "documented" and snap["endpoints"][0]["operation_id"] == "getCustomer"


def test_bounds_endpoints_unrouted_and_consumers() -> None:
    inv = Inventory(max_endpoints=10, max_unrouted=2, max_consumers=2)
    for i in range(5):
        inv.record("GET", f"/probe{i}", None, 404, None, 1.0, denied=True)
    assert inv.unrouted == 2 and inv.overflow == 3
    for c in ("a", "b", "c", "d", "a"):
        inv.record("GET", "/r", "r", 200, c, 1.0)
    assert inv.endpoints[("GET", "/r")].consumers == {"a": 2, "b": 1, "(other)": 2}
    for i in range(20):
        inv.record("GET", f"/routed{i}", "r", 200, None, 1.0)
    assert len(inv.endpoints) == 10 and inv.overflow > 3


def test_data_map_lists_only_endpoints_with_personal_data() -> None:
    m = filled().data_map(DOCS)
    assert m["categories"] == ["identifiers"]
    # only who was served personal information is a recipient (partner was refused)
    assert [(e["template"], e["spi"], e["recipients"]) for e in m["endpoints"]] == [
        ("/v1/customers/{id}", 2, [{"name": "support-app", "responses": 1}])
    ]


def test_csv_export_is_parseable_and_defuses_formulas() -> None:
    inv = filled()
    inv.record("GET", "/x", "x", 200, "=HYPERLINK(evil)", 1.0)
    rows = list(csv.DictReader(io.StringIO(to_csv(inv.snapshot(DOCS)))))
    by = {(r["method"], r["template"]): r for r in rows}
    cust = by[("GET", "/v1/customers/{id}")]
    assert cust["state"] == "documented" and cust["requests"] == "2" and cust["pi_categories"] == "identifiers:2"
    assert cust["first_seen"] == "1970-01-01T00:01:40Z"
    assert by[("GET", "/x")]["consumers"].startswith("'=")
    assert by[("DELETE", "/v1/customers/{id}")]["state"] == "unused"


def test_openapi_skeleton() -> None:
    doc = to_openapi(filled().snapshot(DOCS))
    assert doc["openapi"] == "3.1.0"
    get = doc["paths"]["/v1/customers/{id}"]["get"]
    assert get["operationId"] == "getCustomer" and set(get["responses"]) == {"200", "404"}
    assert get["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]+$"}}]
    assert get["x-cpragate"]["pi_categories"] == ["identifiers"]
    assert doc["paths"]["/v1/legacy/{id}"]["get"]["deprecated"] is True
    assert "delete" not in doc["paths"]["/v1/customers/{id}"]  # unused: not observed, not exported
    assert "head" not in doc["paths"]["/v1/customers/{id}"]


def test_documented_from_routes_reads_bound_operations() -> None:
    op = SimpleNamespace(method="GET", operation_id="getX", deprecated=True, location="spec.yaml:3")
    routes = [
        SimpleNamespace(name="getX", template="/api/x/{id}", settings=SimpleNamespace(openapi=SimpleNamespace(resolved=op))),
        SimpleNamespace(name="plain", template="/plain", settings=SimpleNamespace(openapi=None)),
    ]
    assert documented_from_routes(routes) == [DocumentedOp("GET", "/api/x/{id}", "getX", True, "getX", "spec.yaml:3")]


def test_request_side_categories_from_the_pii_report() -> None:
    from cpragate.filters.pii.filter import PiiReport

    rep = PiiReport()
    rep.add("email", "identifiers", False, "allow", 1)
    rep.request = Annotations()
    rep.request.add("us_ssn", "identifiers", True, None, 1)
    rep.request.add("geolocation", "geolocation", True, None, 1)
    inv = Inventory()
    inv.record("POST", "/v1/tickets", "createTicket", 201, "support-app", 1.0, pii=rep)
    inv.record("POST", "/v1/tickets", "createTicket", 201, "support-app", 2.0, pii=rep)
    row = inv.snapshot()["endpoints"][0]
    assert row["categories"] == {"identifiers": 2} and row["spi"] == 0
    assert row["request_categories"] == {"geolocation": 2, "identifiers": 2} and row["request_spi"] == 4
    dm = inv.data_map()
    assert dm["categories"] == ["geolocation", "identifiers"] and dm["endpoints"][0]["request_spi"] == 4
    rows = list(csv.DictReader(io.StringIO(to_csv(inv.snapshot()))))
    assert rows[0]["request_pi_categories"] == "geolocation:2;identifiers:2" and rows[0]["request_spi"] == "4"


def test_plain_annotations_have_no_request_side_and_the_class_is_asked_once() -> None:
    """A plain Annotations (what the demo's exchanges carry) counts the response side only;
    whether a class has a request part is remembered per class, not raised per exchange."""
    from cpragate.filters.inventory import model
    from cpragate.filters.pii.filter import PiiReport

    ann = Annotations()
    ann.add("email", "identifiers", False, "mask", 2)
    inv = Inventory()
    for _ in range(3):
        inv.record("GET", "/v1/customers/{id}", "getCustomer", 200, "support-app", 1.0, pii=ann)
    row = inv.snapshot()["endpoints"][0]
    assert row["categories"] == {"identifiers": 6} and row["request_categories"] == {} and row["request_spi"] == 0
    assert model._HAS_REQUEST[Annotations] is False
    rep = PiiReport()
    rep.request = Annotations()
    rep.request.add("us_ssn", "identifiers", True, None, 1)
    inv.record("GET", "/v1/customers/{id}", "getCustomer", 200, "support-app", 1.0, pii=rep)
    assert model._HAS_REQUEST[PiiReport] is True
    assert inv.snapshot()["endpoints"][0]["request_categories"] == {"identifiers": 1}


def test_dump_and_load_round_trip_within_bounds() -> None:
    inv = filled()
    data = orjson.loads(orjson.dumps(inv.dump()))  # through JSON, as saved
    fresh = Inventory()
    assert fresh.load(data) == len(inv.endpoints)
    assert fresh.snapshot(DOCS) == inv.snapshot(DOCS) and fresh.unrouted == inv.unrouted
    small = Inventory(max_endpoints=2)
    assert small.load(data) == 2
    again = Inventory()
    again.record("GET", "/v1/admin", None, 404, None, 999.0, denied=True)
    assert again.load(data) == len(inv.endpoints) - 1  # what is already there is kept, not doubled
    for bad in ([], {"version": 99, "endpoints": []}, {"version": 1}):
        with pytest.raises(ValueError):
            Inventory().load(bad)
