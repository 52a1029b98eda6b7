"""Tests for cpragate.openapi.pointer (RFC 6901 section 5 examples)."""

import pytest

from cpragate.openapi import pointer as jp

DOC = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "m~n": 8, " ": 7}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/m~0n", 8),
        ("/ ", 7),
    ],
)
def test_lookup_rfc6901_examples(pointer, expected):
    assert jp.lookup(DOC, jp.parse(pointer)) == expected


@pytest.mark.parametrize("pointer", ["/nope", "/foo/2", "/foo/01", "/foo/x", "/foo/0/deeper"])
def test_lookup_missing(pointer):
    with pytest.raises(LookupError):
        jp.lookup(DOC, jp.parse(pointer))


def test_parse_rejects_relative():
    with pytest.raises(ValueError):
        jp.parse("foo")


def test_fragment_is_percent_decoded():
    assert jp.parse("/~1pets~1%7Bid%7D", fragment=True) == ["/pets/{id}"]


@pytest.mark.parametrize(("token", "escaped"), [("a/b", "a~1b"), ("m~n", "m~0n"), ("~1", "~01"), (3, "3")])
def test_escape_roundtrip(token, escaped):
    assert jp.escape(token) == escaped
    assert jp.unescape(escaped) == str(token)


def test_join_and_from_tokens():
    assert jp.join("/a", "b/c", 0) == "/a/b~1c/0"
    assert jp.from_tokens(["items", 0, "e~x"]) == "/items/0/e~0x"
    assert jp.from_tokens([]) == ""
