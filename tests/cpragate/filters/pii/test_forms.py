"""Form data as a document for the PII engine, and back."""

import pytest

from cpragate.filters.pii.forms import encode_form, parse_form


def test_parse_decodes_and_groups_repeated_names() -> None:
    doc = parse_form("a=1&name=Jane+Roe&a=2&e=&x=%E2%82%AC&a=3&flag")
    assert doc == {"a": ["1", "2", "3"], "name": "Jane Roe", "e": "", "x": "\u20ac", "flag": ""}


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_form("x=%FF") == {"x": "\ufffd"}


@pytest.mark.parametrize("data", ["a=1&b=2", "name=Jane+Roe&tag=x&tag=y", "e=&q=a%26b%3Dc", ""])
def test_round_trip(data: str) -> None:
    assert encode_form(parse_form(data)) == data


def test_dropped_values_are_left_out_and_other_values_stringified() -> None:
    assert encode_form({"a": None, "b": ["1", None, "2"], "n": 5}) == "b=1&b=2&n=5"
