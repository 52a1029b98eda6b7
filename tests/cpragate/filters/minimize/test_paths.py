import copy

import pytest

from cpragate.filters.minimize.paths import FieldTree, PathError, parse_path

DOC = {
    "items": [
        {"id": 1, "email": "a@x", "ssn": "1", "address": {"street": "s", "city": "c"}},
        {"id": 2, "email": "b@x", "ssn": "2", "address": None},
    ],
    "total": 2,
}


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("email", ("email",)),
        ("$.customer.address", ("customer", "address")),
        ("items[*].ssn", ("items", "ssn")),
        ("address.*", ("address", "*")),
        ("['odd.key'].x", ("odd.key", "x")),
        ('$["a"]', ("a",)),
    ],
)
def test_parse(path: str, tokens: tuple[str, ...]) -> None:
    assert parse_path(path) == tokens


@pytest.mark.parametrize("bad", ["", "$", "a..b", "a[0]", "a['x"])
def test_parse_errors(bad: str) -> None:
    with pytest.raises(PathError):
        parse_path(bad)


def test_allow_list_keeps_listed_fields_and_their_parents() -> None:
    doc = copy.deepcopy(DOC)
    removed: dict[str, int] = {}
    FieldTree(["items[*].id", "items.address.city", "total"]).keep_only(doc, removed)
    assert doc == {"items": [{"id": 1, "address": {"city": "c"}}, {"id": 2, "address": None}], "total": 2}
    assert removed == {"/items/*/email": 2, "/items/*/ssn": 2, "/items/*/address/street": 1}


def test_deny_list_removes_listed_fields_anywhere_in_arrays() -> None:
    doc = copy.deepcopy(DOC)
    removed: dict[str, int] = {}
    FieldTree(["items.ssn", "items.address.*", "nothere"]).remove(doc, removed)
    assert doc["items"][0] == {"id": 1, "email": "a@x", "address": {}}
    assert removed == {"/items/*/ssn": 2, "/items/*/address/street": 1, "/items/*/address/city": 1}


def test_top_level_arrays_and_monitor_counting() -> None:
    doc = [{"a": 1, "b": 2}, {"a": 3}]
    before = copy.deepcopy(doc)
    removed: dict[str, int] = {}
    FieldTree(["a"]).keep_only(doc, removed, apply=False)
    assert doc == before and removed == {"/*/b": 1}
