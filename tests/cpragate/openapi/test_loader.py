"""Tests for cpragate.openapi.loader: the four public fixtures and broken specs.

Fixtures (tests/fixtures/openapi/, each names its source and licence):
Petstore 3.0 (OAI), Museum 3.1 (Redocly), Petstore split over files, and the
discriminator examples of the OpenAPI 3.0.3 text.
"""

from pathlib import Path

import pytest
import yaml

from cpragate.errors import SpecError, SpecRefError, SpecRemoteRefError, SpecSchemaError, SpecVersionError
from cpragate.openapi import load_spec
from cpragate.openapi.validator import Violation

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openapi"
PETSTORE = load_spec(FIXTURES / "petstore-expanded-3.0.yaml")
MUSEUM = load_spec(FIXTURES / "museum-3.1.yaml")
SPLIT = load_spec(FIXTURES / "petstore-split" / "openapi.yaml")
DISC = load_spec(FIXTURES / "discriminator-3.0.yaml")


def body_violations(spec, method, path, body, content_type="application/json"):
    op, _ = spec.find(method, path)
    media = op.request_body.media_type(content_type)
    return [tuple(v) for v in media.schema.validate(body)]


def response_schema(spec, method, path, status):
    op, _ = spec.find(method, path)
    return op.response_for(status).media_type("application/json").schema


# --------------------------------------------------------------------- model


def test_petstore_model():
    assert PETSTORE.openapi == "3.0.0" and PETSTORE.title == "Swagger Petstore"
    assert PETSTORE.paths == ("/pets", "/pets/{id}")
    assert [s.url for s in PETSTORE.servers] == ["http://petstore.swagger.io/api"]
    find = PETSTORE.operation("findPets")
    assert (find.method, find.path, find.is_write) == ("GET", "/pets", False)
    assert [(p.name, p.location, p.style, p.explode) for p in find.parameters] == [
        ("tags", "query", "form", True),
        ("limit", "query", "form", True),
    ]
    assert set(find.responses) == {"200", "default"}
    assert find.response_for(500) is find.responses["default"]
    assert PETSTORE.operation("addPet").is_write
    assert PETSTORE.route("delete", "/pets/{id}").operation_id == "deletePet"


def test_museum_model():
    assert MUSEUM.openapi == "3.1.0"
    assert MUSEUM.security == ({"MuseumPlaceholderAuth": ()},)
    scheme = MUSEUM.security_schemes["MuseumPlaceholderAuth"]
    assert (scheme.type, scheme.scheme) == ("http", "basic")
    op = MUSEUM.operation("getTicketCode")
    assert op.tags == ("Tickets",)
    assert op.response_for(200).media_type("image/png").schema is not None
    assert op.response_for(404).content == {}


def test_split_model():
    assert len(SPLIT.files) == 7
    op, params = SPLIT.find("DELETE", "/pets/7")
    assert params == {"id": "7"}
    assert op.security == ()  # `security: []` overrides the document's api_key
    get = SPLIT.operation("find pet by id")
    assert [p.name for p in get.parameters] == ["id"]  # path-level parameter merged
    assert get.security == ({"api_key": ()},)


def test_path_level_parameter_overridden_by_operation(tmp_path):
    spec = write(
        tmp_path,
        {
            "/a/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
    )
    op = load_spec(spec).route("GET", "/a/{id}")
    assert op.params.validate(path={"id": "x"}).violations == [Violation("/path/id", "type")]


# --------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("spec", "method", "path", "body", "expected"),
    [
        (PETSTORE, "POST", "/pets", {"name": "Rex", "tag": "dog"}, []),
        (PETSTORE, "POST", "/pets", {"tag": "dog"}, [("/name", "required")]),
        (PETSTORE, "POST", "/pets", {"name": 5}, [("/name", "type")]),
        (
            MUSEUM,
            "POST",
            "/tickets",
            {"ticketType": "general", "ticketDate": "2023-09-07", "email": "todd@example.com"},
            [],
        ),
        (
            MUSEUM,
            "POST",
            "/tickets",
            {"ticketType": "vip", "ticketDate": "2023-13-45", "email": "nope"},
            [("/email", "format"), ("/ticketDate", "format"), ("/ticketType", "enum")],
        ),
        (
            MUSEUM,
            "PATCH",
            "/special-events/3be6453c-03eb-4357-ae5a-984a0e574a54",
            {"price": "free"},
            [("/price", "type")],
        ),
        (SPLIT, "POST", "/pets", {"name": "Rex", "tag": None}, []),  # nullable: true (3.0)
        (SPLIT, "POST", "/pets", {"name": None}, [("/name", "type")]),
        (DISC, "POST", "/pets", {"petType": "Cat", "name": "Tom", "huntingSkill": "lazy"}, []),
        (DISC, "POST", "/pets", {"petType": "Dog", "name": "Rex"}, [("/packSize", "required")]),
        (DISC, "POST", "/pets", {"petType": "Bird", "name": "Tweety"}, [("/petType", "enum")]),
        (DISC, "POST", "/responses", {"petType": "dog", "name": "Rex", "packSize": 2}, []),
        (DISC, "POST", "/responses", {"petType": "monster", "scariness": 11}, [("/scariness", "maximum")]),
    ],
)
def test_request_bodies(spec, method, path, body, expected):
    assert body_violations(spec, method, path, body) == expected


@pytest.mark.parametrize(
    ("spec", "method", "path", "query", "expected"),
    [
        (PETSTORE, "GET", "/pets", {"tags": ["a", "b"], "limit": ["10"]}, []),
        (PETSTORE, "GET", "/pets", {"limit": ["ten"]}, [Violation("/query/limit", "type")]),
        (
            PETSTORE,
            "GET",
            "/pets",
            {"limit": ["99999999999"]},
            [Violation("/query/limit", "maximum")],
        ),  # int32
        (PETSTORE, "GET", "/pets/abc", {}, [Violation("/path/id", "type")]),
        (
            MUSEUM,
            "GET",
            "/museum-hours",
            {"startDate": ["2023-02-23"], "limit": ["31"]},
            [Violation("/query/limit", "maximum")],
        ),
        (MUSEUM, "GET", "/special-events/not-a-uuid", {}, [Violation("/path/eventId", "format")]),
        (SPLIT, "GET", "/pets/12", {}, []),
    ],
)
def test_parameters(spec, method, path, query, expected):
    op, path_params = spec.find(method, path)
    assert op.params.validate(path=path_params, query=query).violations == expected


def test_unrouted_and_wrong_method():
    assert PETSTORE.find("GET", "/cats") is None
    assert PETSTORE.find("PUT", "/pets") is None


# --------------------------------------------------------------------- responses


def test_response_conformance_strips_excess_data():
    schema = response_schema(PETSTORE, "GET", "/pets", 200)
    body = [
        {"id": 1, "name": "Rex", "ssn": "123-45-6789"},
        {"id": 2, "name": "Tom", "tag": "cat", "password_hash": "x"},
    ]
    assert schema.validate(body) == []
    assert sorted(schema.strip_undeclared(body)) == ["/0/ssn", "/1/password_hash"]
    assert body == [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom", "tag": "cat"}]
    assert [tuple(v) for v in response_schema(PETSTORE, "GET", "/pets", 500).validate({"code": 1})] == [
        ("/message", "required")
    ]


def test_read_only_in_requests_and_recursive_response():
    op = SPLIT.operation("addPet")
    request = op.request_body.media_type("application/json").schema
    assert request.read_only({"name": "Rex", "id": 5}) == []  # NewPet has no id at all
    assert request.undeclared({"name": "Rex", "id": 5}) == ["/id"]
    response = response_schema(SPLIT, "GET", "/pets/1", 200)
    pet = {
        "id": 1,
        "name": "a",
        "parent": {"id": 2, "name": "b", "parent": {"id": 3, "name": "c", "owner": "x"}},
    }
    assert response.validate(pet) == []
    assert response.undeclared(pet) == ["/parent/parent/owner"]
    assert response.read_only(pet) == ["/id", "/parent/id", "/parent/parent/id"]


def test_read_only_not_required_in_requests(tmp_path):
    spec = write(
        tmp_path,
        {
            "/u": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/U"}}}
                    },
                    "responses": {
                        "201": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/U"}}},
                        }
                    },
                }
            }
        },
        schemas={
            "U": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer", "readOnly": True}, "name": {"type": "string"}},
            }
        },
    )
    op = load_spec(spec).route("POST", "/u")
    assert op.request_body.media_type("application/json").schema.validate({"name": "a"}) == []
    assert [
        tuple(v) for v in op.response_for(201).media_type("application/json").schema.validate({"name": "a"})
    ] == [("/id", "required")]


def test_polymorphic_response_keeps_subtype_properties():
    schema = response_schema(DISC, "POST", "/pets", 201)
    cat = {"petType": "Cat", "name": "Tom", "huntingSkill": "lazy", "ssn": "x"}
    assert schema.undeclared(cat) == ["/ssn"]


# --------------------------------------------------------------------- broken specs


def write(tmp_path: Path, paths: dict, *, version="3.0.3", schemas=None, extra=None) -> Path:
    doc = {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths}
    if schemas:
        doc["components"] = {"schemas": schemas}
    doc.update(extra or {})
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


OK = {"responses": {"200": {"description": "ok"}}}


@pytest.mark.parametrize(
    ("paths", "kwargs", "error", "needle"),
    [
        ({}, {"version": "2.0"}, SpecVersionError, "is not 3.0.x or 3.1.x"),
        ({"pets": {"get": OK}}, {}, SpecError, "must start with '/'"),
        ({"/a/{id}": {"get": OK}}, {}, SpecError, "has no path parameter for {id}"),
        (
            {"/a": {"get": {**OK, "parameters": [{"name": "id", "in": "path", "required": True}]}}},
            {},
            SpecError,
            "do not appear in the template",
        ),
        (
            {"/a/{id}": {"get": {**OK, "parameters": [{"name": "id", "in": "path"}]}}},
            {},
            SpecError,
            "must have required: true",
        ),
        (
            {"/a": {"get": {**OK, "parameters": [{"name": "q", "in": "body"}]}}},
            {},
            SpecError,
            "in: path, query, header or cookie",
        ),
        (
            {"/a": {"get": {"responses": {"600": {"description": "x"}}}}},
            {},
            SpecError,
            "is not an HTTP status",
        ),
        (
            {"/a": {"get": {**OK, "operationId": "x"}, "post": {**OK, "operationId": "x"}}},
            {},
            SpecError,
            "operationId 'x' is also used",
        ),
        (
            {"/a": {"get": {**OK, "security": [{"nope": []}]}}},
            {},
            SpecError,
            "not in components.securitySchemes",
        ),
        ({"/a": {"$ref": "other.yaml#/a"}}, {}, SpecRefError, "does not exist"),
        ({"/a": {"$ref": "https://example.com/x.yaml"}}, {}, SpecRemoteRefError, "remote URL"),
        (
            {
                "/a": {
                    "post": {
                        **OK,
                        "requestBody": {"content": {"application/json": {"schema": {"type": "objet"}}}},
                    }
                }
            },
            {},
            SpecSchemaError,
            "not a JSON Schema type",
        ),
        (
            {
                "/a": {
                    "post": {
                        **OK,
                        "requestBody": {
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}
                        },
                    }
                }
            },
            {},
            SpecRefError,
            "points at nothing",
        ),
    ],
)
def test_broken_specs(tmp_path, paths, kwargs, error, needle):
    with pytest.raises(error, match=needle) as err:
        load_spec(write(tmp_path, paths, **kwargs))
    assert "api.yaml" in str(err.value)
    assert "Fix:" in str(err.value)


def test_errors_are_collected_with_lines(tmp_path):
    spec = write(tmp_path, {"/a/{x}": {"get": OK}, "/b/{y}": {"get": OK}})
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    text = str(err.value)
    assert "2 problems" in text and "{x}" in text and "{y}" in text
    assert "api.yaml:7 (at #/paths/~1a~1{x}/get)" in text


def test_swagger_2_is_refused(tmp_path):
    path = tmp_path / "swagger.yaml"
    path.write_text("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
    with pytest.raises(SpecVersionError, match=r"Swagger 2\.0"):
        load_spec(path)


def test_examples_and_extensions_are_never_opened(tmp_path):
    paths = {
        "/a": {
            "get": {
                **OK,
                "x-codeSamples": [{"source": {"$ref": "missing.cs"}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"examples": {"e": {"$ref": "missing.yaml"}}}},
                    }
                },
            }
        }
    }
    spec = load_spec(
        write(
            tmp_path,
            paths,
            extra={"info": {"title": "t", "version": "1", "description": {"$ref": "./info.md"}}},
        )
    )
    op = spec.route("GET", "/a")
    assert op.extensions == {"x-codeSamples": [{"source": {"$ref": "missing.cs"}}]}
