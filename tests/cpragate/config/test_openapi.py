"""Routes from OpenAPI specs: expansion, overrides, binding, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpragate.config import load_config_text
from cpragate.config.openapi import Expansion
from cpragate.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
HEAD = """listeners: [{bind: "127.0.0.1:0"}]
upstreams: {api: {url: "http://127.0.0.1:9", allow_plaintext: true}}
"""
PETS = "tests/fixtures/openapi/petstore-expanded-3.0.yaml"


def load(text: str) -> object:
    return load_config_text(HEAD + text, "gw.yaml", base_dir=REPO)


def test_one_route_per_operation_with_defaults_and_overrides() -> None:
    cfg = load(
        f"""routes:
  - name: health
    path: /health
    upstream: api
  - from_openapi: {PETS}
    upstream: api
    path_prefix: /api
    personal: true
    exclude: [deletePet]
    validation: {{mode: monitor, mass_assignment: strip}}
    overrides:
      addPet:
        max_body_bytes: 1000
        validation: {{mode: enforce}}
"""
    )
    routes = cfg.routes  # type: ignore[attr-defined]
    assert [(r.name, r.path, r.methods) for r in routes] == [
        ("health", "/health", ["GET", "HEAD"]),
        ("findPets", "/api/pets", ["GET"]),
        ("addPet", "/api/pets", ["POST"]),
        ("find pet by id", "/api/pets/{id}", ["GET"]),
    ]
    add = routes[2]
    assert add.personal and add.max_body_bytes == 1000
    assert add.validation.mode == "enforce" and add.validation.mass_assignment == "strip"  # merged key by key
    assert routes[1].validation.mode == "monitor"
    assert add.openapi.resolved is not None and add.openapi.resolved.operation_id == "addPet"
    assert routes[0].openapi is None


@pytest.mark.parametrize(
    ("entry", "where", "what"),
    [
        ("from_openapi: missing.yaml", "gw.yaml:4 routes[0].from_openapi", "CPG-OAS-001"),
        (f"from_openapi: {PETS}\n    path: /x", "gw.yaml:5 routes[0].path", "set by from_openapi"),
        (f"from_openapi: {PETS}\n    exclude: [nope]", "gw.yaml:5 routes[0].exclude", "'nope' is not an operation"),
        (f"from_openapi: {PETS}\n    overrides: {{addPet: {{bogus: 1}}}}", "routes[0].overrides.addPet.bogus", "not a route key"),
        (f"from_openapi: {PETS}\n    path_prefix: api/", "routes[0].path_prefix", "must start with '/'"),
    ],
)
def test_entry_errors_are_located(entry: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - {entry}\n    upstream: api\n")
    assert where in str(e.value) and what in str(e.value)


def test_a_broken_spec_names_the_spec_file_and_json_pointer(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a/{x}:\n    get:\n      responses: {'200': {description: ok}}\n")
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - from_openapi: {spec}\n    upstream: api\n")
    text = str(e.value)
    assert "gw.yaml:4 routes[0].from_openapi" in text and "broken.yaml" in text and "#/paths/~1a~1{x}" in text


def test_errors_of_generated_routes_point_at_their_entry() -> None:
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - from_openapi: {PETS}\n    upstream: nowhere\n")
    assert "gw.yaml:5 routes[0].upstream" in str(e.value) and "nowhere" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - from_openapi: {PETS}\n    upstream: api\n    overrides: {{addPet: {{max_body_bytes: -1}}}}\n")
    assert "routes[0].overrides.addPet.max_body_bytes" in str(e.value)


def test_route_conflicts_with_generated_routes_point_at_the_entry() -> None:
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - {{path: /pets, upstream: api}}\n  - from_openapi: {PETS}\n    upstream: api\n")
    assert "routes[1].from_openapi" in str(e.value) and "declared twice" in str(e.value)


@pytest.mark.parametrize(
    ("binding", "what"),
    [
        ("{spec: " + PETS + ", operation: nope}", "'nope' is not an operationId"),
        ("{spec: " + PETS + ", operation: 'GET /pets'}", "path parameter"),
        ("{spec: missing.yaml, operation: x}", "CPG-OAS-001"),
    ],
)
def test_hand_written_bindings_are_checked(binding: str, what: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - path: /p/{{id}}\n    upstream: api\n    openapi: {binding}\n")
    assert what in str(e.value) and "routes[0].openapi" in str(e.value)


def test_method_mismatch_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        load(f"routes:\n  - path: /pets\n    methods: [POST]\n    upstream: api\n    openapi: {{spec: {PETS}, operation: findPets}}\n")
    assert "do not match" in str(e.value)


def test_origin_mapping() -> None:
    entry = {"from_openapi": "x", "upstream": "a", "overrides": {"addPet": {"personal": True}}}
    x = Expansion({}, origins=[(0, None), (1, "addPet")], entries={1: entry})
    assert x.origin(("routes", 0, "path")) == ("routes", 0, "path")
    assert x.origin(("routes", 1, "methods")) == ("routes", 1, "from_openapi")
    assert x.origin(("routes", 1, "upstream")) == ("routes", 1, "upstream")
    assert x.origin(("routes", 1, "personal")) == ("routes", 1, "overrides", "addPet", "personal")
    assert x.origin(("filters",)) == ("filters",)
