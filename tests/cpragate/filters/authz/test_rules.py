from types import MappingProxyType

import pytest

from cpragate.core.access import Identity
from cpragate.filters.authz.rules import Unresolvable, pointer_values, ref_values, request_values, satisfies
from cpragate.testing import make_exchange, make_request

ID = Identity("app", "contractor", "jwt", "k", attributes=MappingProxyType({"tenants": ("t1", "t2")}),
              claims=MappingProxyType({"sub": "42", "n": 7, "groups": ["a", 3], "flag": True}))


@pytest.mark.parametrize(
    ("ref", "vals"),
    [
        ("consumer.name", ("app",)),
        ("consumer.purpose", ("contractor",)),
        ("consumer.tenants", ("t1", "t2")),
        ("consumer.none", ()),
        ("claims.sub", ("42",)),
        ("claims.n", ("7",)),
        ("claims.groups", ("a", "3")),
        ("claims.flag", ()),
        ("claims.missing", ()),
    ],
)
def test_ref_values(ref: str, vals: tuple[str, ...]) -> None:
    assert ref_values(ID, ref) == vals


def test_satisfies() -> None:
    assert satisfies("42", ID, "claims.sub", True) and not satisfies("43", ID, "claims.sub", True)
    assert satisfies("t2", ID, "consumer.tenants", False) and not satisfies("t3", ID, "consumer.tenants", False)
    assert not satisfies("t1", ID, "consumer.tenants", True)  # equals needs a single value


def test_request_values() -> None:
    ex = make_exchange(make_request("POST", "/x?a=1&a=2", {"X-T": "t1"}, body=b'{"c": {"id": 5}, "l": [{"id": "x"}]}'))
    ex.params = {"id": "9"}
    assert request_values(ex, "path.id") == ["9"] and request_values(ex, "path.no") == []
    assert request_values(ex, "query.a") == ["1", "2"] and request_values(ex, "header.x-t") == ["t1"]
    assert request_values(ex, "body./c/id") == ["5"] and request_values(ex, "body./l/*/id") == ["x"]
    with pytest.raises(Unresolvable):
        request_values(make_exchange(make_request("POST", "/x", body=b"{")), "body./a")
    with pytest.raises(Unresolvable):
        request_values(make_exchange(make_request("POST", "/x")), "body./a")
    with pytest.raises(Unresolvable):
        request_values(make_exchange(make_request("POST", "/x", body=b'{"a": {"b": 1}}')), "body./a")


def test_pointer_values() -> None:
    doc = {"items": [{"t": "a"}, {"t": "b"}, {"u": 1}], "a/b": {"~": 1}, "arr": [10, 20]}
    assert list(pointer_values(doc, "/items/*/t")) == ["a", "b"]
    assert list(pointer_values(doc, "/a~1b/~0")) == [1]
    assert list(pointer_values(doc, "/arr/1")) == [20] and list(pointer_values(doc, "/arr/9")) == []
    assert list(pointer_values(doc, "/missing/x")) == []


def test_pointer_values_selects_in_document_order_and_repeats() -> None:
    doc = {"items": [{"id": 1}, {"x": 2}, {"id": 3}], "a/b": {"~c": 4}, "0": "key"}
    for _ in range(2):  # the second time from the cached tokens
        assert pointer_values(doc, "/items/*/id") == [1, 3]
        assert pointer_values(doc, "/items/2/id") == [3]
        assert pointer_values(doc, "/items/9/id") == []
        assert pointer_values(doc, "/a~1b/~0c") == [4]
        assert pointer_values(doc, "/0") == ["key"]
        assert pointer_values(doc, "") == [doc]
        assert pointer_values([[1, 2], [3]], "/*/*") == [1, 2, 3]
