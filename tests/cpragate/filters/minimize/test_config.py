import pytest
from pydantic import ValidationError

from cpragate.filters.minimize.config import FieldRule, MinimizeConfig, MinimizeRouteSettings


def test_a_route_with_rules() -> None:
    s = MinimizeRouteSettings.model_validate(
        {
            "rules": [
                {"purposes": ["third_party"], "response": {"allow": ["id", "email"]}},
                {"consumers": ["desk"], "request": {"deny": ["ssn"]}},
            ],
            "default": {"response": {"deny": ["ssn"]}},
        }
    )
    assert s.rules[0].purposes == ["third_party"] and s.default is not None
    assert MinimizeConfig().mode == "enforce" and MinimizeConfig().on_error == "deny"


@pytest.mark.parametrize(
    "bad",
    [
        {"rules": [{"response": {"deny": ["a"]}}]},  # for whom?
        {"rules": [{"purposes": ["advertiser"], "response": {"deny": ["a"]}}]},  # not a CPRA purpose
        {"rules": [{"purposes": ["third_party"]}]},  # no field rules
        {"default": {"response": {}}},  # neither allow nor deny
        {"default": {"response": {"deny": ["a[0]"]}}},  # bad path
    ],
)
def test_bad_rules(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MinimizeRouteSettings.model_validate(bad)


def test_allow_and_deny_together() -> None:
    assert FieldRule(allow=["a"], deny=["a.b"]).deny == ["a.b"]
