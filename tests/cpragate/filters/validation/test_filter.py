"""Request validation through the filter: four public specs, mass assignment, monitor mode, limits."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import (
    MassAssignment,
    MediaTypeNotAccepted,
    RequestBodyInvalid,
    RequestInvalid,
    RequestTooComplex,
)
from cpragate.filters.validation.filter import ValidationFilter, caller_scopes
from cpragate.testing import make_exchange, run_filter

PETSTORE = """
routes:
  - from_openapi: tests/fixtures/openapi/petstore-expanded-3.0.yaml
    upstream: api
    path_prefix: /api
"""
SPLIT = PETSTORE.replace("petstore-expanded-3.0.yaml", "petstore-split/openapi.yaml")
MUSEUM = """
routes:
  - from_openapi: tests/fixtures/openapi/museum-3.1.yaml
    upstream: api
"""
DISCRIMINATOR = """
routes:
  - from_openapi: tests/fixtures/openapi/discriminator-3.0.yaml
    upstream: api
"""


def problem(run: Any) -> dict[str, Any]:
    assert run.exchange.response is not None
    doc: dict[str, Any] = orjson.loads(run.exchange.response.body)
    return doc


def pointers(run: Any) -> set[tuple[str, str]]:
    return {(v["pointer"], v["rule"]) for v in problem(run).get("violations", [])}


# ---------------------------------------------------------------- four public specs


@pytest.mark.parametrize("spec", [PETSTORE, SPLIT], ids=["petstore-3.0", "petstore-split-refs"])
def test_petstore_positive_and_negative(mini: Any, spec: str) -> None:
    gw = mini(spec)
    assert gw.call("GET", "/api/pets?limit=10&tags=a&tags=b").request is CONTINUE
    assert gw.call("POST", "/api/pets", b'{"name": "rex", "tag": "dog"}').request is CONTINUE
    assert gw.call("GET", "/api/pets/42").request is CONTINUE
    bad = gw.call("GET", "/api/pets?limit=ten")
    assert isinstance(bad.request, Deny) and bad.request.error is RequestInvalid
    assert pointers(bad) == {("/query/limit", "type")}
    bad = gw.call("GET", "/api/pets/abc")
    assert pointers(bad) == {("/path/id", "type")}
    bad = gw.call("POST", "/api/pets", b'{"tag": 5}')
    assert isinstance(bad.request, Deny) and bad.request.error is RequestBodyInvalid
    assert pointers(bad) == {("/body/name", "required"), ("/body/tag", "type")}
    assert bad.exchange.response is not None and bad.exchange.response.status == 422


def test_museum_31_formats_enums_and_path_parameters(mini: Any) -> None:
    gw = mini(MUSEUM)
    good = b'{"ticketType": "general", "ticketDate": "2023-10-29", "email": "a@example.com"}'
    assert gw.call("POST", "/tickets", good).request is CONTINUE
    assert gw.call("GET", "/museum-hours?startDate=2023-10-29&limit=5").request is CONTINUE
    assert gw.call("GET", "/special-events/3be6453c-03eb-4357-ae5a-984a0e574a54").request is CONTINUE
    bad = gw.call("POST", "/tickets", b'{"ticketType": "vip", "ticketDate": "29/10/2023", "email": "nope"}')
    assert pointers(bad) == {("/body/ticketType", "enum"), ("/body/ticketDate", "format"), ("/body/email", "format")}
    bad = gw.call("GET", "/museum-hours?startDate=yesterday")
    assert pointers(bad) == {("/query/startDate", "format")}


def test_discriminators_dispatch_on_the_property(mini: Any) -> None:
    gw = mini(DISCRIMINATOR)
    assert gw.call("POST", "/pets", b'{"petType": "Cat", "name": "tom", "huntingSkill": "lazy"}').request is CONTINUE
    bad = gw.call("POST", "/pets", b'{"petType": "Cat", "name": "tom", "huntingSkill": "superb"}')
    assert ("/body/huntingSkill", "enum") in pointers(bad)
    bad = gw.call("POST", "/pets", b'{"petType": "Unicorn", "name": "x"}')
    assert ("/body/petType", "enum") in pointers(bad)


def test_no_submitted_value_is_ever_echoed(mini: Any) -> None:
    gw = mini(MUSEUM)
    secret = "123-45-6789-secret@example"
    run = gw.call("POST", "/tickets", orjson.dumps({"ticketType": secret, "ticketDate": secret, "email": secret}))
    assert run.exchange.response is not None and secret.encode() not in (run.exchange.response.body or b"")
    assert secret not in repr(run.exchange.validation) and secret not in repr(run.exchange.decisions)


# ---------------------------------------------------------------- body handling


def test_content_type_and_body_presence(mini: Any) -> None:
    gw = mini(PETSTORE)
    run = gw.call("POST", "/api/pets", b"name=rex", headers={"content-type": "application/x-www-form-urlencoded"})
    assert isinstance(run.request, Deny) and run.request.error is MediaTypeNotAccepted
    assert run.exchange.response is not None and run.exchange.response.status == 415
    run = gw.call("POST", "/api/pets")
    assert isinstance(run.request, Deny) and run.request.error is RequestInvalid
    assert pointers(run) == {("/body", "required")}
    run = gw.call("POST", "/api/pets", b'{"name": ')
    assert pointers(run) == {("/body", "json")}
    run = gw.call("DELETE", "/api/pets/1", b'{"x": 1}')
    assert isinstance(run.request, Deny) and run.request.error is MediaTypeNotAccepted


def test_parser_abuse_limits_before_the_schema(mini: Any) -> None:
    gw = mini(PETSTORE + "    validation: {limits: {max_depth: 4, max_string_length: 50}}\n")
    deep = b'{"name": "x", "tag": "y", "z": {"a": {"b": {"c": {"d": 1}}}}}'
    run = gw.call("POST", "/api/pets", deep)
    assert isinstance(run.request, Deny) and run.request.error is RequestTooComplex
    assert pointers(run) == {("/body/z/a/b/c", "max_depth")}
    run = gw.call("POST", "/api/pets", orjson.dumps({"name": "x" * 60}))
    assert pointers(run) == {("/body/name", "max_string_length")}


def test_unknown_query_parameters_when_strict(mini: Any) -> None:
    gw = mini(PETSTORE + "    validation: {unknown_query: deny}\n")
    assert gw.call("GET", "/api/pets?limit=1").request is CONTINUE
    assert pointers(gw.call("GET", "/api/pets?debug=1")) == {("/query/debug", "undeclared")}


# ---------------------------------------------------------------- mass assignment

MASS = PETSTORE + """
    overrides:
      addPet:
        validation:
          privileged: [{property: tag, scopes: [pets:admin]}]
"""


def test_undeclared_and_privileged_properties_are_rejected(mini: Any) -> None:
    gw = mini(MASS)
    run = gw.call("POST", "/api/pets", b'{"name": "rex", "tag": "x", "is_admin": true, "owner_id": 7}')
    assert isinstance(run.request, Deny) and run.request.error is MassAssignment
    assert pointers(run) == {("/body/is_admin", "undeclared"), ("/body/owner_id", "undeclared"), ("/body/tag", "privileged")}
    assert run.exchange.response is not None and run.exchange.response.status == 422
    assert run.exchange.decisions[-1].rule.startswith("validation:")


def test_privileged_property_allowed_for_the_right_scope(mini: Any, ident: Any) -> None:
    gw = mini(MASS)
    body = b'{"name": "rex", "tag": "x"}'
    assert gw.call("POST", "/api/pets", body, identity=ident("admin-app", scopes=("pets:admin",))).request is CONTINUE
    assert isinstance(gw.call("POST", "/api/pets", body, identity=ident("partner")).request, Deny)
    assert isinstance(gw.call("POST", "/api/pets", body).request, Deny)  # anonymous: no scopes


def test_read_only_properties_are_rejected_on_writes(mini: Any, tmp_path: Any) -> None:
    spec = tmp_path / "ro.yaml"
    spec.write_text(
        """
openapi: 3.1.0
info: {title: ro, version: "1"}
paths:
  /users:
    post:
      operationId: createUser
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                id: {type: integer, readOnly: true}
                name: {type: string}
                role: {type: string}
      responses:
        "201": {description: created}
"""
    )
    gw = mini(f"routes:\n  - from_openapi: {spec}\n    upstream: api\n")
    run = gw.call("POST", "/users", b'{"id": 1, "name": "a"}')
    assert isinstance(run.request, Deny) and pointers(run) == {("/body/id", "readOnly")}
    # the readOnly property is not required, so a body without it is valid
    assert gw.call("POST", "/users", b'{"name": "a", "role": "user"}').request is CONTINUE


def test_strip_mode_forwards_the_body_without_them(mini: Any) -> None:
    gw = mini(MASS.replace("validation:\n", "validation:\n          mass_assignment: strip\n"))
    run = gw.call("POST", "/api/pets", b'{"name": "rex", "tag": "x", "is_admin": true}')
    assert run.request is CONTINUE
    assert orjson.loads(run.exchange.request.body or b"") == {"name": "rex"}
    rep = run.exchange.validation
    assert rep is not None and rep.outcome == "stripped" and set(rep.stripped) == {"/body/tag", "/body/is_admin"}


def test_mass_assignment_off(mini: Any) -> None:
    gw = mini(PETSTORE + "    validation: {mass_assignment: \"off\"}\n")
    assert gw.call("POST", "/api/pets", b'{"name": "rex", "extra": 1}').request is CONTINUE


# ---------------------------------------------------------------- monitor mode


def test_monitor_mode_records_exactly_what_would_be_refused(mini: Any) -> None:
    gw = mini(MASS + "    validation: {mode: monitor}\n")
    body = b'{"name": 5, "tag": "x", "is_admin": true}'
    run = gw.call("POST", "/api/pets", body)
    assert run.request is CONTINUE and run.exchange.request.body == body
    rep = run.exchange.validation
    assert rep is not None and rep.mode == "monitor" and rep.outcome == "would_refuse"
    assert rep.code == RequestBodyInvalid.code
    assert {(v.pointer, v.rule) for v in rep.violations} == {
        ("/body/name", "type"),
        ("/body/is_admin", "undeclared"),
        ("/body/tag", "privileged"),
    }
    assert [(d.filter, d.outcome) for d in run.exchange.decisions] == [("validation", "would_deny")]


def test_monitor_strip_changes_nothing(mini: Any) -> None:
    text = MASS.replace("validation:\n", "validation:\n          mass_assignment: strip\n          mode: monitor\n")
    body = b'{"name": "rex", "is_admin": true}'
    run = mini(text).call("POST", "/api/pets", body)
    assert run.request is CONTINUE and run.exchange.request.body == body
    assert run.exchange.validation is not None and run.exchange.validation.outcome == "would_strip"


# ---------------------------------------------------------------- wiring


def test_only_routes_bound_to_an_operation_are_validated(mini: Any) -> None:
    gw = mini("routes:\n  - {path: /plain, methods: [POST], upstream: api}\n")
    route = gw.router.match("POST", "/plain")
    assert route and "validation" not in route.payload.pipeline.names
    assert run_filter(ValidationFilter, exchange=make_exchange()).request is CONTINUE


def test_a_hand_written_route_bound_with_other_parameter_names(mini: Any) -> None:
    gw = mini(
        "routes:\n  - path: /v2/animals/{animal}\n    upstream: api\n"
        "    openapi: {spec: tests/fixtures/openapi/petstore-expanded-3.0.yaml, operation: 'GET /pets/{id}'}\n"
    )
    assert gw.call("GET", "/v2/animals/5").request is CONTINUE
    assert pointers(gw.call("GET", "/v2/animals/x")) == {("/path/id", "type")}


def test_caller_scopes_are_read_defensively() -> None:
    class Odd:
        scopes = "a b"
        roles = ["admin", 3]

    assert caller_scopes(None) == frozenset()
    assert caller_scopes(object()) == frozenset()
    assert caller_scopes(Odd()) == {"a", "b", "admin"}


# ---------------------------------------------------------------- properties (hypothesis)

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_tickets = st.fixed_dictionaries(
    {
        "ticketType": st.sampled_from(["event", "general"]),
        "ticketDate": st.dates().map(lambda d: d.isoformat()),
        "email": st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True),
    },
    optional={"phone": _names, "eventId": st.uuids().map(str)},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_tickets)
def test_generated_valid_requests_pass(mini: Any, doc: dict[str, Any]) -> None:
    gw = _museum(mini)
    run = gw.call("POST", "/tickets", orjson.dumps(doc))
    assert run.request is CONTINUE, run.exchange.validation


_mutations = st.sampled_from(["drop_required", "bad_enum", "bad_type", "undeclared", "bad_format"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_tickets, mutation=_mutations, junk=st.one_of(st.integers(), st.booleans(), st.none()))
def test_mutated_requests_are_refused(mini: Any, doc: dict[str, Any], mutation: str, junk: Any) -> None:
    doc = dict(doc)
    if mutation == "drop_required":
        del doc["email"]
    elif mutation == "bad_enum":
        doc["ticketType"] = "vip"
    elif mutation == "bad_type":
        doc["ticketDate"] = junk
    elif mutation == "undeclared":
        doc["is_admin"] = junk
    else:
        doc["email"] = "not-an-email"
    run = _museum(mini).call("POST", "/tickets", json.dumps(doc).encode())
    assert isinstance(run.request, Deny)
    assert run.exchange.response is not None and run.exchange.response.status in (400, 422)


_MUSEUM_GW: list[Any] = []


def _museum(mini: Any) -> Any:
    if not _MUSEUM_GW:
        _MUSEUM_GW.append(mini(MUSEUM))
    return _MUSEUM_GW[0]


def test_content_type_resolutions_are_remembered_per_route_and_bounded(mini: Any) -> None:
    gw = mini(PETSTORE)
    for _ in range(2):  # the second round is answered from the per-route memory
        run = gw.call("POST", "/api/pets", b"name=rex", headers={"content-type": "application/x-www-form-urlencoded"})
        assert isinstance(run.request, Deny) and run.request.error is MediaTypeNotAccepted
        assert gw.call("POST", "/api/pets", b'{"name": "rex"}').request is CONTINUE
        assert pointers(gw.call("POST", "/api/pets", b'{"name": 5}')) == {("/body/name", "type")}
    for i in range(100):  # client-chosen content types cannot grow it without bound
        gw.call("POST", "/api/pets", b"x", headers={"content-type": f"text/x-{i}"})
    filt = gw.filters["validation"]
    assert isinstance(filt, ValidationFilter)
    assert all(len(plan.media) <= 32 for plan in filt._plans.values())


def test_depth_limit_holds_for_bodies_the_schema_accepts(mini: Any, tmp_path: Any) -> None:
    spec = tmp_path / "nested.yaml"
    spec.write_text(
        """
openapi: 3.1.0
info: {title: nested, version: "1"}
paths:
  /things:
    post:
      operationId: addThing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                a: {type: object, properties: {b: {type: object, properties: {c: {type: integer}}}}}
      responses:
        "201": {description: created}
"""
    )
    body = b'{"a": {"b": {"c": 1}}}'  # valid, nothing undeclared, depth 3 (the schema's deepest)
    route = f"routes:\n  - from_openapi: {spec}\n    upstream: api\n"
    assert mini(route).call("POST", "/things", body).request is CONTINUE
    assert mini(route + "    validation: {limits: {max_depth: 3}}\n").call("POST", "/things", body).request is CONTINUE
    run = mini(route + "    validation: {limits: {max_depth: 2}}\n").call("POST", "/things", body)
    assert isinstance(run.request, Deny) and run.request.error is RequestTooComplex
    assert pointers(run) == {("/body/a/b", "max_depth")}


def test_limits_folded_into_the_schema_still_name_the_place(mini: Any, tmp_path: Any) -> None:
    spec = tmp_path / "lists.yaml"
    spec.write_text(
        """
openapi: 3.1.0
info: {title: lists, version: "1"}
paths:
  /things:
    post:
      operationId: addThing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                name: {type: string}
                tags: {type: array, items: {type: string}}
      responses:
        "201": {description: created}
"""
    )
    # limit_bytes = 4 (2 x max_array_length): every body takes the folded check
    route = f"routes:\n  - from_openapi: {spec}\n    upstream: api\n    validation: {{limits: {{max_array_length: 2, max_string_length: 8}}}}\n"
    gw = mini(route)
    assert gw.call("POST", "/things", b'{"name": "a", "tags": ["x", "y"]}').request is CONTINUE
    run = gw.call("POST", "/things", b'{"name": "a", "tags": ["x", "y", "z"]}')
    assert isinstance(run.request, Deny) and run.request.error is RequestTooComplex
    assert pointers(run) == {("/body/tags", "max_array_length")}
    assert pointers(gw.call("POST", "/things", b'{"name": "abcdefghij"}')) == {("/body/name", "max_string_length")}
    run = gw.call("POST", "/things", b'{"name": 5, "is_admin": true}')  # within limits: the usual answers
    assert pointers(run) == {("/body/name", "type"), ("/body/is_admin", "undeclared")}
