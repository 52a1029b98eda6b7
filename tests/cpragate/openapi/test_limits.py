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
