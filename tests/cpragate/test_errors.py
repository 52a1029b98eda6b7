import pytest

from cpragate import errors
from cpragate.errors import CpraGateError, all_errors, lookup


def test_every_error_has_code_title_fix_and_unique_code() -> None:
    seen = set()
    for cls in all_errors():
        assert cls.code.startswith("CPG-") and cls.code not in seen
        seen.add(cls.code)
        assert cls.title.endswith(".") and cls.fix.endswith(".") and 100 <= cls.status <= 599


def test_lookup_and_str() -> None:
    assert lookup("cpg-route-001") is errors.NotRouted
    e = errors.ConfigError("a\nb")
    assert str(e).startswith("CPG-CFG-001: a\nb\nFix:")
    assert str(errors.NotRouted()) .startswith("CPG-ROUTE-001: No route")


def test_duplicate_codes_refused() -> None:
    with pytest.raises(TypeError):
        type("Dup", (CpraGateError,), {"code": "CPG-ROUTE-001"})


def test_all_is_sorted() -> None:
    assert errors.__all__ == sorted(errors.__all__)
