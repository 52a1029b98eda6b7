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
