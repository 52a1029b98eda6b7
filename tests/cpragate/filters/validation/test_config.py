import pytest
from pydantic import ValidationError

from cpragate.filters.validation.config import (
    ConformanceConfig,
    JsonLimitsConfig,
    OpenApiBinding,
    PrivilegedProperty,
    ValidationConfig,
    ValidationRouteSettings,
)
from cpragate.openapi.limits import JsonLimits


def test_defaults_enforce_and_reject() -> None:
    v = ValidationConfig()
    assert (v.mode, v.mass_assignment, v.unknown_query) == ("enforce", "reject", "allow")
    c = ConformanceConfig()
    assert (c.mode, c.on_violation, c.on_error) == ("enforce", "log", "deny")
    assert JsonLimitsConfig().to_limits() == JsonLimits()


@pytest.mark.parametrize(
    "bad",
    [{"mode": "audit"}, {"mass_assignment": "ignore"}, {"limits": {"max_depth": 0}}, {"typo": 1}],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ValidationConfig.model_validate(bad)


def test_privileged_property_paths() -> None:
    assert PrivilegedProperty(property="role").tokens() == ("role",)
    assert PrivilegedProperty(property="owner.id").tokens() == ("owner", "id")
    assert PrivilegedProperty(property="/a~1b/c").tokens() == ("a/b", "c")
    assert ValidationRouteSettings.model_validate({"privileged": [{"property": "role", "scopes": ["admin"]}]}).privileged


def test_binding_is_resolved_by_the_loader_only() -> None:
    b = OpenApiBinding(spec="x.yaml", operation="getX")
    assert b.resolved is None and b.path_names == ()
