"""Tests for cpragate.openapi.model: media types, response lookup, spec look-ups."""

import pytest

from cpragate.openapi.model import CompiledSchema, MediaType, Response, match_media_type

JSON = MediaType("application/json", None)
ANY_IMAGE = MediaType("image/*", None)
ANYTHING = MediaType("*/*", None)


@pytest.mark.parametrize(
    ("content", "header", "expected"),
    [
        ({"application/json": JSON}, "application/json", JSON),
        ({"application/json": JSON}, "Application/JSON; charset=utf-8", JSON),
        ({"application/json": JSON}, "text/plain", None),
        ({"application/json": JSON}, None, None),
        ({"application/json": JSON, "image/*": ANY_IMAGE}, "image/png", ANY_IMAGE),
        ({"*/*": ANYTHING}, "text/csv", ANYTHING),
    ],
)
def test_match_media_type(content, header, expected):
    assert match_media_type(content, header) is expected


def test_compiled_schema_facade():
    schema = CompiledSchema(
        {
            "type": "object",
            "properties": {"id": {"readOnly": True, "type": "integer"}},
            "additionalProperties": False,
        }
    )
    doc = {"id": "x", "extra": 1}
    assert [tuple(v) for v in schema.validate(doc)] == [("/extra", "additionalProperties"), ("/id", "type")]
    assert not schema.is_valid(doc)
    assert schema.read_only(doc) == ["/id"]
    assert schema.undeclared(doc) == ["/extra"]
    assert schema.strip_undeclared(doc) == ["/extra"] and doc == {"id": "x"}


def test_response_media_type():
    response = Response(status="200", description=None, content={"application/json": JSON})
    assert response.media_type("application/json") is JSON


CLEAN_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "id": {"readOnly": True, "type": "integer"},
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/Address"},
    },
    "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.mark.parametrize(
    ("doc", "clean", "clean_read_only"),
    [
        ({"name": "a", "address": {"city": "x"}}, True, True),
        ({"name": "a", "id": 1}, True, False),  # readOnly: only the write check refuses it
        ({"name": "a", "extra": 1}, False, False),  # undeclared
        ({"name": "a", "address": {"zip": "1"}}, False, False),  # undeclared, nested
        ({"name": 1}, False, False),  # invalid
        ({}, False, False),  # required
    ],
)
def test_is_clean_is_valid_and_nothing_undeclared_or_read_only(doc, clean, clean_read_only):
    schema = CompiledSchema(CLEAN_SCHEMA)
    assert schema.is_clean(doc) is clean
    assert schema.is_clean(doc, read_only=True) is clean_read_only
    assert schema.clean_check()(doc) is clean  # the same answer as one callable kept per route
    # It agrees with the separate checks it stands for.
    assert clean == (schema.is_valid(doc) and not schema.undeclared(doc))
    assert clean_read_only == (clean and not schema.read_only(doc))


def test_is_clean_is_false_when_only_a_walk_can_decide():
    one_of = CompiledSchema(
        {
            "oneOf": [
                {"type": "object", "required": ["a"], "properties": {"a": {}}},
                {"type": "object", "required": ["b"], "properties": {"b": {}}},
            ]
        }
    )
    assert one_of.is_valid({"a": 1}) and not one_of.undeclared({"a": 1})
    assert one_of.is_clean({"a": 1}) is False  # the caller falls back to the exact checks
    assert one_of.clean_check()({"a": 1}) is False
    # allOf: the schema and its closed variants are combined; a schema with its own $id is not
    parts = {"allOf": [{"type": "object", "properties": {"a": {}}}, {"properties": {"b": {}}}]}
    assert CompiledSchema(parts).is_clean({"a": 1, "b": 2}) is True
    assert CompiledSchema(parts).is_clean({"a": 1, "c": 2}) is False
    own_id = CompiledSchema({"$id": "https://example.com/x", **parts})
    assert own_id.is_clean({"a": 1}) is False
    # without composition the schema itself is closed: one traversal, same answers
    plain = CompiledSchema({"$id": "https://example.com/y", "type": "object", "properties": {"a": {}}})
    assert plain.is_clean({"a": 1}) is True and plain.is_clean({"b": 1}) is False


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "a", "address": {"city": "x"}},
        {"name": "abcdef", "address": {"city": "x"}},  # string too long
        {"name": "a", "id": 1},
        {"name": "a", "tags": ["x", "y", "z"]},  # array too long
        {"name": "a", "extra": 1},
        {"name": 1},
    ],
)
def test_is_clean_with_limits_folds_the_limits_into_the_strict_schema(doc):
    from cpragate.openapi.limits import JsonLimits, check_limits

    schema = CompiledSchema(
        {**CLEAN_SCHEMA, "properties": {**CLEAN_SCHEMA["properties"], "tags": {"type": "array", "items": {"type": "string"}}}}
    )
    limits = JsonLimits(max_depth=2, max_array_length=2, max_string_length=5, max_keys=4)
    for read_only in (False, True):
        expected = schema.is_clean(doc, read_only=read_only) and check_limits(doc, limits) is None
        assert schema.is_clean(doc, read_only=read_only, limits=limits) is expected
    # a schema deeper than max_depth (or unbounded) gets no folded variant: False, look closer
    assert schema.is_clean({"name": "a"}, limits=JsonLimits(max_depth=1)) is False
    free = CompiledSchema({"type": "object", "properties": {"meta": {"type": "object"}}})
    assert free.is_clean({"meta": {}}) is True and free.is_clean({"meta": {}}, limits=JsonLimits()) is False
