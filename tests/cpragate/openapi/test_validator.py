"""Tests for cpragate.openapi.validator: (pointer, rule) violations, never values."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.errors import SpecSchemaError
from cpragate.openapi.validator import SchemaValidator, Violation

CUSTOMER = {
    "type": "object",
    "required": ["id", "email"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "kind": {"enum": ["a", "b"]},
        "when": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}
V = SchemaValidator(CUSTOMER)


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({"id": 1, "email": "a@example.com"}, []),
        ({"email": "a@example.com"}, [Violation("/id", "required")]),
        ({"id": 0, "email": "a@example.com"}, [Violation("/id", "minimum")]),
        ({"id": 1, "email": "not-an-email"}, [Violation("/email", "format")]),
        (
            {"id": 1, "email": "a@example.com", "ssn": "123-45-6789"},
            [Violation("/ssn", "additionalProperties")],
        ),
        ({"id": 1, "email": "a@example.com", "tags": ["ok", "long"]}, [Violation("/tags/1", "maxLength")]),
        ({"id": 1, "email": "a@example.com", "kind": "c"}, [Violation("/kind", "enum")]),
        ({"id": 1, "email": "a@example.com", "when": "yesterday"}, [Violation("/when", "format")]),
        ("x", [Violation("", "type")]),
    ],
)
def test_violations(instance, expected):
    assert V.validate(instance) == expected
    assert V.is_valid(instance) is (expected == [])


def test_violations_never_carry_values():
    secret = "123-45-6789"
    found = V.validate({"id": secret, "email": secret, secret: secret})
    assert found and all(secret not in v.rule for v in found)
    assert [v.pointer for v in found if secret in v.pointer] == [f"/{secret}"]  # the key, as sent


def test_limit_caps_violations():
    v = SchemaValidator({"type": "array", "items": {"type": "integer"}})
    assert len(v.validate(["x"] * 100, limit=5)) == 5


@pytest.mark.parametrize("schema", [{"type": 5}, {"minimum": "x"}, {"$ref": "#/nowhere"}])
def test_invalid_schema(schema):
    with pytest.raises(SpecSchemaError):
        SchemaValidator(schema, where="spec.yaml:3")


def test_catastrophic_pattern_is_bounded():
    v = SchemaValidator({"type": "string", "pattern": "^(a|a)*$"})
    assert v.validate("a" * 40 + "!") == [Violation("", "pattern")]


@settings(max_examples=50)
@given(st.integers(min_value=1), st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.com", fullmatch=True))
def test_generated_valid_pass_and_mutations_fail(ident, email):
    doc = {"id": ident, "email": email}
    assert V.validate(doc) == []
    assert V.validate({**doc, "id": -ident}) == [Violation("/id", "minimum")]
    assert V.validate({"email": email}) == [Violation("/id", "required")]


def test_checker_is_is_valid_without_a_python_frame():
    v = SchemaValidator({"type": "object", "required": ["a"]})
    check = v.checker()
    for doc in ({"a": 1}, {}, [], None):
        assert check(doc) is v.is_valid(doc)
