"""Config models: defaults, extra keys refused, validation errors name the problem."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpragate.pii.config import (
    Action,
    ActionRules,
    CustomRecognizerConfig,
    MaskOptions,
    PiiConfig,
    TokenizeOptions,
)

KEY = "k" * 32


def test_defaults_mask_spi_only() -> None:
    rules = PiiConfig().actions
    assert rules.action_for("us_ssn", "identifiers", True) is Action.MASK
    assert rules.action_for("email", "identifiers", False) is Action.ALLOW


def test_rule_precedence() -> None:
    rules = ActionRules(
        default=Action.REDACT,
        spi=Action.MASK,
        categories={"geolocation": Action.DROP},  # type: ignore[dict-item]
        entities={"us_ssn": Action.BLOCK},
    )
    assert rules.action_for("us_ssn", "identifiers", True) is Action.BLOCK
    assert rules.action_for("geolocation", "geolocation", True) is Action.DROP
    assert rules.action_for("iban", "customer_records", True) is Action.MASK
    assert rules.action_for("email", "identifiers", False) is Action.REDACT


@pytest.mark.parametrize(
    "bad",
    [
        {"unknown": 1},
        {"entities": ["nope"]},
        {"actions": {"default": "tokenize"}},
        {"tokenize": {"key": "short"}},
        {"mask": {"shapes": {"us_ssn": "{middle2}"}}},
        {"mask": {"char": "**"}},
    ],
)
def test_invalid(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PiiConfig.model_validate(bad)


def test_tokenize_needs_key() -> None:
    cfg = PiiConfig(actions=ActionRules(default=Action.TOKENIZE), tokenize=TokenizeOptions(key=KEY))  # type: ignore[arg-type]
    assert cfg.tokenize.key is not None


@pytest.mark.parametrize(
    "bad",
    [
        {"entity": "Bad Name", "pattern": "x", "category": "identifiers"},
        {"entity": "us_ssn", "pattern": "x", "category": "identifiers"},
        {"entity": "member_id", "pattern": "(", "category": "identifiers"},
        {"entity": "member_id", "pattern": "x*", "category": "identifiers"},
        {"entity": "member_id", "pattern": "x", "category": "nope"},
        {"entity": "member_id", "pattern": "x", "category": "identifiers", "validator": "md5"},
    ],
)
def test_custom_invalid(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CustomRecognizerConfig.model_validate(bad)


def test_every_field_is_described() -> None:
    for model in (PiiConfig, ActionRules, MaskOptions, TokenizeOptions, CustomRecognizerConfig):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name}"
