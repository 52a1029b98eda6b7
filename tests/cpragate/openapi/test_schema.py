"""Tests for cpragate.openapi.schema: 3.0 normalization, bundling, discriminators, directions."""

from pathlib import Path

import pytest
import yaml

from cpragate.errors import SpecSchemaError
from cpragate.openapi.refs import Location, Resolver
from cpragate.openapi.schema import DISCRIMINATOR_KEY, SchemaBundler, for_direction
from cpragate.openapi.source import load_document
from cpragate.openapi.validator import SchemaValidator


def bundle(tmp_path: Path, schemas: dict, root: str, version: str = "3.0.3"):
    spec = {"openapi": version, "components": {"schemas": schemas}}
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(spec))
    doc = load_document(path)
    bundler = SchemaBundler(Resolver(doc), openapi_30=version.startswith("3.0"))
    return bundler.bundle(Location(doc, f"/components/schemas/{root}"))


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
        (
            {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            {"type": "integer", "exclusiveMinimum": 1},
        ),
        ({"type": "number", "maximum": 5, "exclusiveMaximum": False}, {"type": "number", "maximum": 5}),
        (
            {"type": "integer", "format": "int32"},
            {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1},
        ),
        ({"type": "string", "description": "d", "example": "e", "x-foo": 1}, {"type": "string"}),
        (
            {"allOf": [{"type": "string"}], "nullable": True},
            {"anyOf": [{"type": "null"}, {"allOf": [{"type": "string"}]}]},
        ),
    ],
)
def test_openapi_30_normalization(tmp_path, schema, expected):
    assert bundle(tmp_path, {"S": schema}, "S") == expected


def test_31_keeps_type_arrays_and_ignores_nullable(tmp_path):
    got = bundle(tmp_path, {"S": {"type": ["string", "null"], "nullable": True, "const": "x"}}, "S", "3.1.0")
    assert got == {"type": ["string", "null"], "const": "x"}


def test_30_ref_siblings(tmp_path):
    got = bundle(
        tmp_path,
        {
            "A": {"type": "string"},
            "S": {
                "properties": {
                    "a": {
                        "$ref": "#/components/schemas/A",
                        "readOnly": True,
                        "nullable": True,
                        "maxLength": 1,
                    }
                }
            },
        },
        "S",
    )
    assert got["properties"]["a"] == {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/A", "readOnly": True}]}


def test_recursive_schema_validates(tmp_path):
    got = bundle(
        tmp_path,
        {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/components/schemas/Node"}, "v": {"type": "integer"}},
            }
        },
        "Node",
    )
    v = SchemaValidator(got)
    assert v.validate({"next": {"next": {"v": 1}}}) == []
    assert [x.pointer for x in v.validate({"next": {"next": {"v": "x"}}})] == ["/next/next/v"]


def test_only_reachable_defs_are_bundled(tmp_path):
    got = bundle(
        tmp_path,
        {
            "A": {"type": "string"},
            "B": {"type": "integer"},
            "S": {"items": {"$ref": "#/components/schemas/A"}},
        },
        "S",
    )
    assert set(got["$defs"]) == {"A"}


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "strin"}, "not a JSON Schema type"),
        ({"properties": []}, "must be a mapping"),
        ({"allOf": {}}, "must be a list"),
        ({"exclusiveMinimum": True}, "needs minimum"),
        (True, "needs OpenAPI 3.1"),
    ],
)
def test_schema_errors(tmp_path, schema, needle):
    with pytest.raises(SpecSchemaError, match=needle) as err:
        bundle(tmp_path, {"S": schema}, "S")
    assert "api.yaml" in str(err.value) and "#/components/schemas/S" in str(err.value)


def test_discriminator_oneof_mapping(tmp_path):
    schemas = {
        "A": {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "a": {"type": "integer"}},
            "required": ["a"],
        },
        "B": {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["b"],
        },
        "U": {
            "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
            "discriminator": {"propertyName": "kind", "mapping": {"bee": "B"}},
        },
    }
    got = bundle(tmp_path, schemas, "U")
    assert got[DISCRIMINATOR_KEY] == {"propertyName": "kind", "mapping": {"A": "A", "bee": "B"}}
    v = SchemaValidator(got)
    assert v.validate({"kind": "A", "a": 1}) == []
    assert [tuple(x) for x in v.validate({"kind": "bee", "a": 1})] == [("/b", "required")]
    assert [tuple(x) for x in v.validate({"kind": "B", "b": 1})] == [("/kind", "enum")]
    assert [tuple(x) for x in v.validate({"a": 1})] == [("/kind", "required")]


def test_for_direction_relaxes_required(tmp_path):
    schemas = {
        "S": {
            "type": "object",
            "required": ["id", "pw", "name"],
            "properties": {
                "id": {"type": "integer", "readOnly": True},
                "pw": {"type": "string", "writeOnly": True},
                "name": {"type": "string"},
            },
        }
    }
    got = bundle(tmp_path, schemas, "S")
    assert for_direction(got, "request")["required"] == ["pw", "name"]
    assert for_direction(got, "response")["required"] == ["id", "name"]
    assert got["required"] == ["id", "pw", "name"]  # the bundle itself is untouched
