"""Tests for cpragate.openapi.params: style parsing, coercion and violations."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpragate.openapi.model import CompiledSchema, Parameter
from cpragate.openapi.params import ParameterValidator, coerce_scalar, schema_types
from cpragate.openapi.validator import Violation


def param(name, location, schema, *, required=False, style=None, explode=None, **kw) -> Parameter:
    style = style or {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}[location]
    return Parameter(
        name=name,
        location=location,
        required=required or location == "path",
        schema=CompiledSchema(schema) if schema is not None else None,
        style=style,
        explode=(style == "form") if explode is None else explode,
        **kw,
    )


PV = ParameterValidator(
    [
        param("id", "path", {"type": "integer", "minimum": 1}),
        param("limit", "query", {"type": "integer", "maximum": 30}),
        param("tags", "query", {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}),
        param("ids", "query", {"type": "array", "items": {"type": "integer"}}, explode=False),
        param("flag", "query", {"type": "boolean"}),
        param("kind", "query", {"enum": ["x", "y"]}, required=True),
        param("X-Trace-Id", "header", {"type": "string", "format": "uuid"}),
        param(
            "filter",
            "query",
            {"type": "object", "properties": {"age": {"type": "integer"}, "name": {"type": "string"}}},
            style="deepObject",
            explode=True,
        ),
        param("session", "cookie", {"type": "string", "maxLength": 4}),
        param("Authorization", "header", {"type": "integer"}, required=True),  # ignored by OpenAPI rules
    ]
)


@pytest.mark.parametrize(
    ("kwargs", "values", "violations"),
    [
        (dict(path={"id": "5"}, query={"kind": ["x"]}), {"path": {"id": 5}, "query": {"kind": "x"}}, []),
        (dict(path={"id": "0"}, query={"kind": ["x"]}), None, [Violation("/path/id", "minimum")]),
        (dict(path={"id": "abc"}, query={"kind": ["x"]}), None, [Violation("/path/id", "type")]),
        (dict(path={"id": "1"}, query={}), None, [Violation("/query/kind", "required")]),
        (dict(path={}, query={"kind": ["x"]}), None, [Violation("/path/id", "required")]),
        (
            dict(path={"id": "7"}, query={"kind": ["x"]}, headers={"X-TRACE-ID": "0f8fad5b-d9cb-469f-a165-70867728950e"}),
            {"path": {"id": 7}, "header": {"X-Trace-Id": "0f8fad5b-d9cb-469f-a165-70867728950e"}},
            [],
        ),
        (dict(path={"id": "1"}, query={"kind": ["z"]}), None, [Violation("/query/kind", "enum")]),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "limit": ["31"]}),
            None,
            [Violation("/query/limit", "maximum")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "limit": ["1", "2"]}),
            None,
            [Violation("/query/limit", "multiple")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "limit": [""]}),
            None,
            [Violation("/query/limit", "allowEmptyValue")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "tags": ["a", "b"]}),
            {"query": {"kind": "x", "tags": ["a", "b"]}},
            [],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "tags": ["a", "c"]}),
            None,
            [Violation("/query/tags/1", "enum")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "ids": ["1,2,3"]}),
            {"query": {"kind": "x", "ids": [1, 2, 3]}},
            [],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "ids": ["1,x"]}),
            None,
            [Violation("/query/ids/1", "type")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "flag": ["true"]}),
            {"query": {"kind": "x", "flag": True}},
            [],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "flag": ["yes"]}),
            None,
            [Violation("/query/flag", "type")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"]}, headers={"x-trace-id": "nope"}),
            None,
            [Violation("/header/X-Trace-Id", "format")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "filter[age]": ["7"], "filter[name]": ["n"]}),
            {"query": {"kind": "x", "filter": {"age": 7, "name": "n"}}},
            [],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"], "filter[age]": ["old"]}),
            None,
            [Violation("/query/filter/age", "type")],
        ),
        (
            dict(path={"id": "1"}, query={"kind": ["x"]}, cookies={"session": "toolong"}),
            None,
            [Violation("/cookie/session", "maxLength")],
        ),
    ],
)
def test_validate(kwargs, values, violations):
    result = PV.validate(**kwargs)
    assert result.violations == violations
    if values is not None:
        for location, expected in values.items():
            assert result.values[location] == expected


def test_unknown_query_parameters():
    strict = ParameterValidator([param("a", "query", {"type": "string"})], allow_unknown_query=False)
    assert strict.validate(query={"a": ["1"], "b": ["2"]}).violations == [Violation("/query/b", "undeclared")]
    assert PV.validate(path={"id": "1"}, query={"kind": ["x"], "zzz": ["1"]}).violations == []


@pytest.mark.parametrize(
    ("style", "explode", "raw", "schema", "expected"),
    [
        ("simple", False, "1,2", {"type": "array", "items": {"type": "integer"}}, [1, 2]),
        (
            "simple",
            False,
            "a,1,b,2",
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
            {"a": 1, "b": 2},
        ),
        (
            "simple",
            True,
            "a=1,b=2",
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
            {"a": 1, "b": 2},
        ),
        ("label", False, ".1,2", {"type": "array", "items": {"type": "integer"}}, [1, 2]),
        ("label", True, ".1.2", {"type": "array", "items": {"type": "integer"}}, [1, 2]),
        ("matrix", False, ";id=5", {"type": "integer"}, 5),
        ("matrix", True, ";id=1;id=2", {"type": "array", "items": {"type": "integer"}}, [1, 2]),
    ],
)
def test_path_styles(style, explode, raw, schema, expected):
    pv = ParameterValidator([param("id", "path", schema, style=style, explode=explode)])
    result = pv.validate(path={"id": raw})
    assert result.violations == []
    assert result.values["path"]["id"] == expected


@pytest.mark.parametrize(("style", "raw"), [("label", "1"), ("matrix", ";other=1")])
def test_style_mismatch(style, raw):
    pv = ParameterValidator([param("id", "path", {"type": "integer"}, style=style)])
    assert pv.validate(path={"id": raw}).violations == [Violation("/path/id", "style")]


@pytest.mark.parametrize(("style", "raw"), [("spaceDelimited", "1 2"), ("pipeDelimited", "1|2")])
def test_delimited_query(style, raw):
    pv = ParameterValidator(
        [param("q", "query", {"type": "array", "items": {"type": "integer"}}, style=style, explode=False)]
    )
    assert pv.validate(query={"q": [raw]}).values["query"]["q"] == [1, 2]


def test_content_parameter():
    p = Parameter(
        name="f",
        location="query",
        required=False,
        schema=CompiledSchema({"type": "object", "required": ["a"]}),
        style="form",
        explode=True,
        content_type="application/json",
    )
    pv = ParameterValidator([p])
    assert pv.validate(query={"f": ['{"a": 1}']}).violations == []
    assert pv.validate(query={"f": ["{"]}).violations == [Violation("/query/f", "content")]
    assert pv.validate(query={"f": ["{}"]}).violations == [Violation("/query/f/a", "required")]


@pytest.mark.parametrize(
    ("text", "types", "expected"),
    [
        ("12", frozenset({"integer"}), 12),
        ("1.5", frozenset({"integer"}), "1.5"),
        ("1.5", frozenset({"number"}), 1.5),
        ("1e999", frozenset({"number"}), "1e999"),
        ("true", frozenset({"boolean", "string"}), True),
        ("null", frozenset({"null", "integer"}), None),
        ("007", frozenset({"integer"}), "007"),
        ("0", frozenset({"integer"}), 0),
        ("-7", frozenset({"integer"}), -7),
        ("\u0663", frozenset({"integer"}), "\u0663"),  # a non-ASCII digit is not an integer
        ("\u00b2", frozenset({"integer"}), "\u00b2"),
    ],
)
def test_coerce_scalar(text, types, expected):
    assert coerce_scalar(text, types) == expected


def test_schema_types_follow_refs_and_enums():
    root = {"$defs": {"E": {"enum": ["a", 1]}}, "anyOf": [{"$ref": "#/$defs/E"}, {"type": "boolean"}]}
    assert schema_types(root, root) == frozenset({"string", "integer", "boolean"})


@given(st.integers(min_value=1, max_value=30))
def test_generated_integers_pass_and_out_of_range_fail(limit):
    ok = PV.validate(path={"id": str(limit)}, query={"kind": ["y"], "limit": [str(limit)]})
    assert ok.violations == [] and ok.values["query"]["limit"] == limit
    bad = PV.validate(path={"id": str(-limit)}, query={"kind": ["y"], "limit": [str(limit + 30)]})
    assert bad.violations == [Violation("/path/id", "minimum"), Violation("/query/limit", "maximum")]


def test_path_only_operations_take_the_fast_path_with_the_same_answers():
    pv = ParameterValidator(
        [param("id", "path", {"type": "integer", "minimum": 1}), param("slug", "path", {"type": "string", "maxLength": 3})]
    )
    assert pv._path_scalars is not None
    ok = pv.validate(path={"id": "5", "slug": "ab"})
    assert ok.violations == [] and ok.values == {"path": {"id": 5, "slug": "ab"}}
    bad = pv.validate(path={"id": "0", "slug": "abcd"})
    assert bad.violations == [Violation("/path/id", "minimum"), Violation("/path/slug", "maxLength")]
    assert pv.validate(path={"slug": "a"}).violations == [Violation("/path/id", "required")]
    assert pv.validate(path={}).values == {}
    # a query string (or strict query handling) takes the general path
    assert pv.validate(path={"id": "5", "slug": "a"}, query={"x": ["1"]}).values == {"path": {"id": 5, "slug": "a"}}
    strict = ParameterValidator([param("id", "path", {"type": "integer"})], allow_unknown_query=False)
    assert strict.validate(path={"id": "1"}, query={"x": ["1"]}).violations == [Violation("/query/x", "undeclared")]
    assert PV._path_scalars is None  # query, header and cookie parameters too
