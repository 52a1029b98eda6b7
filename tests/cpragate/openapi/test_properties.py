"""Tests for cpragate.openapi.properties: undeclared and readOnly properties."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.openapi.properties import PropertyShape

CUSTOMER = {
    "$defs": {
        "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "Base": {"type": "object", "properties": {"id": {"type": "integer", "readOnly": True}}},
    },
    "allOf": [
        {"$ref": "#/$defs/Base"},
        {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "address": {"$ref": "#/$defs/Address"},
                "orders": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"total": {"type": "number"}}},
                },
                "meta": {"type": "object"},
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"v": {}}},
                },
                "pair": {"type": "array", "prefixItems": [{"type": "object", "properties": {"x": {}}}]},
            },
            "patternProperties": {"^x-": {}},
        },
    ],
}
SHAPE = PropertyShape(CUSTOMER)


@pytest.mark.parametrize(
    ("instance", "undeclared", "read_only"),
    [
        ({"id": 1, "email": "a"}, [], ["/id"]),
        ({"email": "a", "ssn": "1"}, ["/ssn"], []),
        ({"address": {"city": "x", "zip": "9"}}, ["/address/zip"], []),
        ({"orders": [{"total": 1}, {"total": 2, "cost": 1}]}, ["/orders/1/cost"], []),
        ({"meta": {"anything": {"goes": 1}}}, [], []),  # free-form object
        ({"labels": {"k": {"v": 1, "w": 2}}}, ["/labels/k/w"], []),
        ({"x-trace": 1, "y-trace": 1}, ["/y-trace"], []),
        ({"pair": [{"x": 1, "y": 2}]}, ["/pair/0/y"], []),
        ({"a/b": 1}, ["/a~1b"], []),
        ([1, 2], [], []),
    ],
)
def test_undeclared_and_read_only(instance, undeclared, read_only):
    assert sorted(SHAPE.undeclared(instance)) == undeclared
    assert SHAPE.read_only(instance) == read_only


def test_strip_undeclared_in_place():
    doc = {"email": "a", "ssn": "1", "orders": [{"total": 1, "cost": 2}]}
    removed = SHAPE.strip_undeclared(doc)
    assert sorted(removed) == ["/orders/0/cost", "/ssn"]
    assert doc == {"email": "a", "orders": [{"total": 1}]}
    assert SHAPE.strip_undeclared(doc) == []


ONE_OF = {
    "oneOf": [
        {
            "type": "object",
            "required": ["card"],
            "properties": {"card": {"type": "string"}, "cvv": {"type": "string"}},
        },
        {"type": "object", "required": ["iban"], "properties": {"iban": {"type": "string"}}},
    ]
}


@pytest.mark.parametrize(
    ("instance", "undeclared"),
    [
        ({"card": "4111", "cvv": "1"}, []),
        ({"iban": "DE89", "cvv": "1"}, ["/cvv"]),  # cvv belongs to the other branch only
        ({"nothing": 1}, ["/nothing"]),  # no valid branch: any branch may declare
        ({"cvv": "1"}, []),
    ],
)
def test_one_of_uses_valid_branches(instance, undeclared):
    assert PropertyShape(ONE_OF).undeclared(instance) == undeclared


def test_if_then_else():
    shape = PropertyShape(
        {
            "type": "object",
            "properties": {"kind": {}},
            "if": {"properties": {"kind": {"const": "person"}}},
            "then": {"properties": {"name": {}}},
            "else": {"properties": {"company": {}}},
        }
    )
    assert shape.undeclared({"kind": "person", "name": 1, "company": 2}) == ["/company"]
    assert shape.undeclared({"kind": "org", "name": 1, "company": 2}) == ["/name"]


def test_recursive_schema():
    shape = PropertyShape(
        {
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
            "$ref": "#/$defs/N",
        }
    )
    assert shape.undeclared({"next": {"next": {"next": {"bad": 1}}}}) == ["/next/next/next/bad"]


def test_additional_false_declares_nothing_extra():
    assert PropertyShape({"additionalProperties": False}).undeclared({"a": 1}) == ["/a"]
    assert PropertyShape(True).undeclared({"a": 1}) == []


keys = st.sampled_from(["email", "id", "address"])
extra = st.text(alphabet="qwxz", min_size=1, max_size=4)


@settings(max_examples=60)
@given(st.dictionaries(keys, st.integers(), max_size=3), st.lists(extra, min_size=1, max_size=3, unique=True))
def test_declared_pass_and_injected_properties_are_found(declared, injected):
    assert SHAPE.undeclared(declared) == []
    mutated = copy.deepcopy(declared) | dict.fromkeys(injected, "PII")
    assert sorted(SHAPE.undeclared(mutated)) == sorted("/" + k for k in injected)
    SHAPE.strip_undeclared(mutated)
    assert mutated == declared


PLAIN = {
    "$defs": {
        "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "Id": {"type": "integer", "readOnly": True},
    },
    "type": "object",
    "properties": {
        "id": {"$ref": "#/$defs/Id"},
        "email": {"type": "string", "format": "email"},
        "address": {"$ref": "#/$defs/Address"},
        "orders": {"type": "array", "items": {"type": "object", "properties": {"total": {"type": "number"}}}},
        "meta": {"type": "object"},
        "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {}}}},
        "pair": {"type": "array", "prefixItems": [{"type": "object", "properties": {"x": {}}}]},
    },
    "patternProperties": {"^x-": {}},
}
PLAIN_INSTANCES = [
    {"id": 1, "email": "a@example.com"},
    {"email": "a@example.com", "ssn": "1"},
    {"address": {"city": "x", "zip": "9"}},
    {"address": {"city": 5}},
    {"orders": [{"total": 1}, {"total": 2, "cost": 1}]},
    {"meta": {"anything": {"goes": 1}}},
    {"labels": {"k": {"v": 1, "w": 2}}},
    {"x-trace": 1, "y-trace": 1},
    {"pair": [{"x": 1, "y": 2}]},
    {"pair": [{"x": 1}, {"y": 2}]},
    {"email": 5},
    [1, 2],
]


@pytest.mark.parametrize("instance", PLAIN_INSTANCES)
@pytest.mark.parametrize("read_only", [False, True])
def test_strict_schema_is_valid_exactly_when_nothing_is_reported(instance, read_only):
    import jsonschema_rs

    shape = PropertyShape(PLAIN)
    strict = shape.strict_schema(read_only)
    assert strict is not None
    plain = jsonschema_rs.Draft202012Validator(PLAIN, validate_formats=True)
    expected = plain.is_valid(instance) and not shape.undeclared(instance)
    if read_only:
        expected = expected and not shape.read_only(instance)
    assert jsonschema_rs.Draft202012Validator(strict, validate_formats=True).is_valid(instance) is expected
    assert PLAIN["properties"]["id"] == {"$ref": "#/$defs/Id"}  # the schema itself is untouched


def test_no_strict_schema_where_several_schemas_describe_one_place():
    assert SHAPE.strict_schema(False) is None  # allOf
    assert PropertyShape({"properties": {"a": {"not": {"type": "null"}}}}).strict_schema(False) is None
    assert PropertyShape({"$ref": "#/$defs/A", "properties": {}, "$defs": {"A": {}}}).strict_schema(False) is None
    assert PropertyShape(True).strict_schema(True) is True


def test_schema_depth_bounds_what_a_closed_schema_admits():
    from cpragate.openapi.properties import schema_depth

    closed = PropertyShape({**PLAIN, "properties": {k: v for k, v in PLAIN["properties"].items() if k != "meta"}})
    strict = closed.strict_schema(False)
    assert schema_depth(strict) is None  # "labels" admits any object below its values' "v"
    customer = {
        "$defs": {
            "Order": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Address": {"type": "object", "properties": {"tags": {"type": "array", "items": {"enum": ["a", ["b"]]}}}},
        },
        "type": "object",
        "properties": {
            "address": {"$ref": "#/$defs/Address"},
            "orders": {"type": "array", "items": {"$ref": "#/$defs/Order"}},
            "kind": {"const": {"a": [1]}},
        },
    }
    strict = PropertyShape(customer).strict_schema(False)
    # customer(1) -> address(2) -> tags(3) -> ["b"](4); orders(2) -> order(3); kind (2, 3)
    assert schema_depth(strict) == 4
    assert schema_depth({"type": "string"}) == 0
    assert schema_depth({"type": "object"}) is None  # free-form: closed nowhere
    assert schema_depth(True) is None
    recursive = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    assert schema_depth(PropertyShape(recursive).strict_schema(False)) is None
    assert schema_depth({"type": "array", "items": False}) == 1
