import pytest

from cpragate.core import registry
from cpragate.core.filter import Filter


def test_builtins_are_filters() -> None:
    found = registry.builtin_filters()
    assert {"security_headers", "cors"} <= set(found)
    assert all(issubclass(c, Filter) and c.name == n for n, c in found.items())
    assert registry.load_filters() .keys() >= found.keys()


def test_load_rejects_non_filters() -> None:
    with pytest.raises(TypeError):
        registry._load("cpragate.errors:CpraGateError")
