import pytest
from pydantic import ValidationError

from cpragate.filters.pii import PiiFilterConfig, PiiRouteSettings
from cpragate.pii import Action


def test_defaults_mask_spi_on_personal_routes_and_deny_on_error() -> None:
    c = PiiFilterConfig()
    assert c.enabled is True
    assert c.routes == "personal"
    assert c.on_error == "deny"
    assert c.engine.actions.spi is Action.MASK
    assert c.engine.actions.default is Action.ALLOW


@pytest.mark.parametrize(
    "data",
    [
        {"routes": "some"},
        {"on_error": "ignore"},
        {"unknown": 1},
        {"engine": {"actions": {"default": "tokenize"}}},  # tokenize needs a key
        {"engine": {"entities": ["not_an_entity"]}},
    ],
)
def test_bad_configs_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PiiFilterConfig.model_validate(data)


def test_good_config_with_rules() -> None:
    c = PiiFilterConfig.model_validate(
        {"routes": "all", "on_error": "allow", "engine": {"actions": {"entities": {"us_ssn": "block"}}}}
    )
    assert c.engine.actions.entities == {"us_ssn": Action.BLOCK}


def test_route_settings_default_to_following_the_filter() -> None:
    rs = PiiRouteSettings()
    assert (rs.inspect, rs.actions, rs.on_error) == (None, None, None)
    with pytest.raises(ValidationError):
        PiiRouteSettings.model_validate({"inspect": True, "extra": 1})


def test_every_field_has_a_description() -> None:
    for model in (PiiFilterConfig, PiiRouteSettings):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"


def test_inspection_defaults() -> None:
    c = PiiFilterConfig()
    assert c.pass_types == [] and c.text is True
    assert c.request.body is None and c.request.query is None  # annotate (resolved by the filter)
    assert c.stream.enabled is None and c.stream.array is None and c.stream.max_element_bytes is None


@pytest.mark.parametrize(
    "data",
    [
        {"pass_types": ["*/*"]},
        {"pass_types": ["image"]},
        {"pass_types": ["image/png; q=1"]},
        {"request": {"body": "redact"}},
        {"request": {"query": "allow"}},
        {"request": {"headers": "annotate"}},
        {"stream": {"max_element_bytes": 10}},
        {"stream": {"array": ""}},
    ],
)
def test_bad_inspection_settings_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PiiFilterConfig.model_validate(data)
    with pytest.raises(ValidationError):
        PiiRouteSettings.model_validate(data)


def test_pass_types_are_normalized() -> None:
    c = PiiRouteSettings.model_validate({"pass_types": [" Image/* ", "application/PDF", "application/vnd.ms-excel"]})
    assert c.pass_types == ["image/*", "application/pdf", "application/vnd.ms-excel"]
    assert PiiRouteSettings().pass_types is None  # follows the filter's


def test_a_bare_yaml_off_means_off() -> None:
    from cpragate.config import load_config_text

    cfg = load_config_text(
        """
listeners: [{bind: "127.0.0.1:1"}]
upstreams: {a: {url: "https://a"}}
routes: [{path: /a, upstream: a, pii: {request: {body: off, query: off}}}]
filters: {pii: {request: {body: off}}}
"""
    )
    rs = cfg.routes[0].pii
    assert rs is not None and rs.request is not None
    assert (rs.request.body, rs.request.query, cfg.filters.pii.request.body) == ("off", "off", "off")
    with pytest.raises(ValidationError):
        PiiFilterConfig.model_validate({"request": {"body": True}})
