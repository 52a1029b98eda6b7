"""The scanner tests' spec fixture (the fakes live in cpragate.testing.scanner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpragate.openapi import Spec, load_spec

SPEC = """
openapi: 3.1.0
info: {title: t, version: "1"}
security: [{bearer: []}]
paths:
  /login:
    post:
      operationId: login
      security: []
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {username: {type: string}, password: {type: string}}}
      responses: {"200": {description: ok}}
  /items:
    get:
      operationId: listItems
      parameters: [{name: limit, in: query, schema: {type: integer, maximum: 10}}]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {items: {type: array, items: {$ref: "#/components/schemas/Item"}}}}
    post:
      operationId: createItem
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Item"}
      responses: {"201": {description: ok}}
  /items/{item_id}:
    get:
      operationId: getItem
      parameters: [{name: item_id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Item"}
    delete:
      operationId: deleteItem
      parameters: [{name: item_id, in: path, required: true, schema: {type: integer}}]
      responses: {"204": {description: ok}}
  /search:
    get:
      operationId: search
      parameters: [{name: q, in: query, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /admin/stats:
    get:
      operationId: adminStats
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    Item:
      type: object
      properties:
        id: {type: integer, readOnly: true}
        owner: {type: string, readOnly: true}
        name: {type: string}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    return load_spec(p)


