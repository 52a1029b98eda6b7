from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpragate.openapi import Spec, load_spec
from cpragate.scanner import specutil


def test_examples_follow_types_formats_names_and_limits() -> None:
    root: dict[str, Any] = {"$defs": {"Addr": {"type": "object", "properties": {"zip": {"type": "string", "minLength": 5}}}}}
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "email": {"type": "string"},
            "password": {"type": "string"},
            "site": {"type": "string", "format": "uri"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "n": {"type": "integer", "minimum": 3},
            "code": {"type": "string", "maxLength": 4},
            "addr": {"$ref": "#/$defs/Addr"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean", "default": True},
        },
    }
    ex = specutil.example(schema, root, tag="cpgscanX")
    assert "id" not in ex
    assert ex["email"] == "cpgscanX@example.com" and ex["site"].startswith("https://") and ex["kind"] == "a"
    assert ex["n"] == 3 and len(ex["code"]) == 4 and len(ex["addr"]["zip"]) >= 5 and ex["tags"] == ["cpgscanX"]
    assert ex["ok"] is True and "cpgscanX" in ex["password"] and len(ex["password"]) >= 8
    assert specutil.example(schema, root, writing=False)["id"] == 1


def test_resolve_folds_all_of() -> None:
    root = {"$defs": {"A": {"type": "object", "properties": {"a": {}}, "required": ["a"]}}}
    node = specutil.resolve({"allOf": [{"$ref": "#/$defs/A"}, {"properties": {"b": {}}}]}, root)
    assert set(node["properties"]) == {"a", "b"} and node["required"] == ["a"]


OPS = """
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /auth/login:
    post:
      requestBody: {content: {application/json: {schema: {properties: {email: {type: string}, password: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /auth/register:
    post:
      requestBody: {content: {application/json: {schema: {properties: {username: {type: string}, password: {type: string}}}}}}
      responses: {"200": {description: ok}}
  /internal/users/{id}/reset:
    post:
      parameters: [{name: id, in: path, required: true}]
      responses: {"200": {description: ok}}
  /books:
    get:
      tags: [Admin]
      responses: {"200": {description: ok}}
    put:
      responses: {"200": {description: ok}}
  /administrators-guide:
    get:
      responses: {"200": {description: ok}}
"""


@pytest.fixture
def ops(tmp_path: Path) -> Spec:
    p = tmp_path / "s.yaml"
    p.write_text(OPS)
    return load_spec(p)


def test_operation_kinds(ops: Spec) -> None:
    login, register = ops.route("POST", "/auth/login"), ops.route("POST", "/auth/register")
    reset = ops.route("POST", "/internal/users/{id}/reset")
    books, put = ops.route("GET", "/books"), ops.route("PUT", "/books")
    assert login and register and reset and books and put
    assert specutil.is_login(login) and not specutil.is_register(login)
    assert specutil.is_register(register) and not specutil.is_login(register)
    assert specutil.looks_admin(reset) and specutil.looks_admin(books)  # path segment; tag
    guide = ops.route("GET", "/administrators-guide")
    assert guide and specutil.looks_admin(guide)  # "administrators" is a word of the admin family
    assert specutil.destructive(reset) and specutil.destructive(put) and not specutil.destructive(books)
    assert specutil.user_field(["password", "email"]) == "email" and specutil.password_field(["pwd"]) == "pwd"


@pytest.mark.parametrize(
    ("status", "doc", "expected"),
    [
        (200, {"auth_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig"}, True),
        (200, {"data": {"session_id": "0f3c2a9b8d7e6f5a4b3c"}}, True),
        (200, {"status": "fail", "message": "Invalid token provided"}, False),  # 200 with an error is no login
        (401, {"access_token": "0f3c2a9b8d7e6f5a4b3c"}, False),
    ],
)
def test_logged_in(status: int, doc: dict[str, Any], expected: bool) -> None:
    import json

    assert specutil.logged_in(status, doc, json.dumps(doc)) is expected
