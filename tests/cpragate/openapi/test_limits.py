"""Tests for cpragate.openapi.limits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpragate.openapi.limits import JsonLimits, check_limits
from cpragate.openapi.validator import Violation

SMALL = JsonLimits(max_depth=3, max_array_length=3, max_string_length=5, max_keys=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2, 3]}, None),
        ("hello", None),
        ("toolong", Violation("", "max_string_length")),
        ({"a": {"b": {"c": 1}}}, None),
        ({"a": {"b": {"c": {}}}}, Violation("/a/b/c", "max_depth")),
        ([[[[1]]]], Violation("/0/0/0", "max_depth")),
        ({"a": [1, 2, 3, 4]}, Violation("/a", "max_array_length")),
        ({"a": 1, "b": 2, "c": 3}, Violation("", "max_keys")),
        ({"a": ["ok", "toolong"]}, Violation("/a/1", "max_string_length")),
        ({"a": {"b/c": "toolong"}}, Violation("/a/b~1c", "max_string_length")),
        ({"longkey": 1}, Violation("", "max_string_length")),
    ],
)
def test_limits(value, expected):
    assert check_limits(value, SMALL) == expected


def test_deep_nesting_does_not_recurse():
    value: list = []
    for _ in range(100_000):
        value = [value]
    assert check_limits(value, JsonLimits()) == Violation("/0" * 32, "max_depth")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=2)
    ),
    max_leaves=20,
)


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@given(json_values)
def test_within_limits_passes_and_deeper_is_refused(value):
    limits = JsonLimits(max_depth=max(depth(value), 1), max_array_length=3, max_string_length=5, max_keys=2)
    assert check_limits(value, limits) is None
    if depth([value]) > limits.max_depth:
        found = check_limits([value], limits)
        assert found is not None and found.rule == "max_depth"


@given(json_values)
def test_the_compiled_check_agrees_with_the_walk(value):
    from cpragate.openapi.limits import _first_violation, limits_validator

    for limits in (SMALL, JsonLimits(max_depth=2, max_array_length=1, max_string_length=1, max_keys=1)):
        walked = _first_violation(value, limits, with_paths=False)
        assert limits_validator(limits).is_valid(value) is (walked is None)


def test_what_rust_cannot_read_is_walked():
    assert check_limits(("a", "toolong"), SMALL) is None  # a tuple is no JSON array: the walk ignores it
    assert check_limits({"a": "\ud800"}, SMALL) is None  # a lone surrogate (stdlib json lets it through)
    assert check_limits({"a": "\ud800toolong"}, SMALL) == Violation("/a", "max_string_length")


def test_size_skips_the_limits_a_text_that_short_cannot_break():
    long_string = {"a": "toolong"}
    assert check_limits(long_string, SMALL) == Violation("/a", "max_string_length")
    assert check_limits(long_string, SMALL, size=16) == Violation("/a", "max_string_length")
    # A caller's size is a promise: a 5-byte text holds no string longer than 5, so
    # string lengths are not checked at all.
    assert check_limits(long_string, SMALL, size=5) is None
    deep = [[[[1]]]]
    assert check_limits(deep, SMALL, size=9) == Violation("/0/0/0", "max_depth")  # depth is always checked


def test_needed_bounds():
    from cpragate.openapi.limits import needed_bounds

    assert needed_bounds(SMALL, None) == (True, True, True)
    assert needed_bounds(JsonLimits(), 1000) == (False, False, False)
    assert needed_bounds(JsonLimits(), 65_000) == (False, True, True)
    assert needed_bounds(JsonLimits(), 200_000) == (True, True, True)
