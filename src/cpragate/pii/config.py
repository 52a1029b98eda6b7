"""Configuration models of the PII engine (pydantic v2, ``extra="forbid"``).

The gateway's ``pii`` filter embeds :class:`PiiConfig`; the CLI builds one from flags.
Every field has a ``description``: it is the reference documentation.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cpragate.pii.categories import BUILTIN, Category

__all__ = [
    "Action",
    "ActionRules",
    "CustomRecognizerConfig",
    "MaskOptions",
    "PiiConfig",
    "TokenizeOptions",
]

_ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class Action(StrEnum):
    """What to do with a finding."""

    ALLOW = "allow"
    MASK = "mask"
    REDACT = "redact"
    TOKENIZE = "tokenize"
    DROP = "drop"
    BLOCK = "block"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionRules(_Model):
    """Which action applies to a finding; the most specific rule wins.

    Order: ``entities`` (by entity name), then ``categories``, then ``spi`` (for SPI
    findings), then ``default``.
    """

    default: Action = Field(Action.ALLOW, description="Action for findings no other rule matches.")
    spi: Action | None = Field(
        Action.MASK,
        description="Action for sensitive personal information (SPI) findings that no "
        "entity or category rule matches; null falls through to `default`.",
    )
    categories: dict[Category, Action] = Field(
        default_factory=dict, description="Action per CPRA category, e.g. `geolocation: redact`."
    )
    entities: dict[str, Action] = Field(
        default_factory=dict, description="Action per entity name, e.g. `us_ssn: block`."
    )

    def action_for(self, entity: str, category: str, spi: bool) -> Action:
        """The action for one finding (see the class docstring for the order)."""
        a = self.entities.get(entity)
        if a is not None:
            return a
        c = self.categories.get(category)  # type: ignore[call-overload]
        if c is not None:
            return Action(c)
        if spi and self.spi is not None:
            return self.spi
        return self.default


class MaskOptions(_Model):
    """How the ``mask`` action rewrites a value."""

    char: str = Field("*", min_length=1, max_length=1, description="The masking character.")
    keep_last: dict[str, int] = Field(
        default_factory=lambda: {
            "us_ssn": 4,
            "credit_card": 4,
            "iban": 4,
            "phone": 4,
            "aba_routing": 4,
            "us_driver_license": 2,
            "us_passport": 2,
        },
        description="Letters/digits kept at the end, per entity; entities not listed are "
        "masked completely. Never more than half of a value's characters are kept.",
    )
    shapes: dict[str, str] = Field(
        default_factory=dict,
        description="A template per entity that replaces the default mask, e.g. "
        "`us_ssn: '***-**-{last4}'` or `email: '{first1}***@***'`. `{lastN}`/`{firstN}` insert "
        "the last/first N letters or digits of the value (N <= 4).",
    )
    geo_decimals: int = Field(
        2,
        ge=0,
        le=3,
        description="Masked latitude/longitude numbers are rounded to this many decimals "
        "(2 = about 1.1 km, no longer precise geolocation).",
    )

    @field_validator("shapes")
    @classmethod
    def _check_shapes(cls, v: dict[str, str]) -> dict[str, str]:
        for entity, shape in v.items():
            for m in re.finditer(r"\{(\w+)\}", shape):
                if not re.fullmatch(r"(first|last)[1-4]", m[1]):
                    raise ValueError(
                        f"mask shape for {entity!r} uses {{{m[1]}}}; only {{first1}}..{{first4}} "
                        "and {last1}..{last4} are allowed"
                    )
        return v


class TokenizeOptions(_Model):
    """How the ``tokenize`` action builds deterministic tokens."""

    key: SecretStr | None = Field(
        None,
        description="The tokenization secret (at least 16 bytes; put it in an environment "
        "variable or file, never inline). Same key + same value = same token, so joins "
        "still work. Required when any rule uses `tokenize`.",
    )
    reversible: bool = Field(
        False,
        description="Encrypt with AES-SIV (deterministic authenticated encryption) instead "
        "of a keyed HMAC, so a holder of the key can get the value back (detokenize).",
    )
    prefix: str = Field("tok_", pattern=r"^[A-Za-z0-9_]{0,16}$", description="Prefix of every token.")
    hmac_length: int = Field(
        20, ge=12, le=52, description="Length of the base32 HMAC token body (irreversible mode)."
    )


class CustomRecognizerConfig(_Model):
    """A recognizer defined in the config: a regex, optional validator and context."""

    entity: str = Field(description="Entity name reported in findings (lower_snake, not a built-in name).")
    pattern: str = Field(description="Python regular expression matched inside string values.")
    validator: Literal["luhn", "iban", "aba", "ssn", "phone", "ip", "email", "date"] | None = Field(
        None, description="A built-in validator every match must pass."
    )
    context: list[str] = Field(
        default_factory=list,
        description="Words of which at least one must appear in the field name or within "
        "48 characters before a match in free text; empty = no context needed.",
    )
    field_names: list[str] = Field(
        default_factory=list,
        description="Field names whose whole value is this entity when it matches `pattern`.",
    )
    category: Category = Field(description="CPRA category of the findings.")
    spi: bool = Field(False, description="Whether the findings are sensitive personal information.")

    @field_validator("entity")
    @classmethod
    def _check_entity(cls, v: str) -> str:
        if not _ENTITY_NAME.match(v):
            raise ValueError("entity must be lower_snake_case, 2-41 characters")
        if v in BUILTIN:
            raise ValueError(f"entity {v!r} is built in; choose another name")
        return v

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        if compiled.match(""):
            raise ValueError("pattern matches the empty string")
        return v

    @field_validator("context")
    @classmethod
    def _lower_context(cls, v: list[str]) -> list[str]:
        return [w.lower() for w in v]


class PiiConfig(_Model):
    """The PII engine's configuration."""

    entities: list[str] | None = Field(
        None,
        description="Built-in entities to detect; null = all of them.",
    )
    custom_recognizers: list[CustomRecognizerConfig] = Field(
        default_factory=list, description="Additional recognizers (regex + validator + context)."
    )
    field_names: dict[str, str] = Field(
        default_factory=dict,
        description="Extra field names -> entity, e.g. `member_tax_no: us_ssn`; they win over "
        "the built-in field-name list.",
    )
    ignore_fields: list[str] = Field(
        default_factory=list,
        description="Field names whose values are never scanned (e.g. opaque `id` fields).",
    )
    actions: ActionRules = Field(
        default_factory=ActionRules,
        description="Default action rules; the gateway may pass per-route/consumer rules.",
    )
    mask: MaskOptions = Field(default_factory=MaskOptions, description="Mask settings.")
    redact_placeholder: str = Field(
        "[REDACTED:{entity}]",
        description="Replacement for `redact`; `{entity}` and `{category}` are filled in.",
    )
    tokenize: TokenizeOptions = Field(
        default_factory=TokenizeOptions,
        description="Tokenization settings.",
    )
    free_text: bool = Field(
        True, description="Scan inside string values for embedded PII (not only whole values)."
    )
    names_in_free_text: bool = Field(
        True,
        description="Look for person names in free text after cue words (best effort; "
        "see docs/pii.md for its measured quality).",
    )
    max_string_chars: int = Field(
        1_000_000,
        ge=1024,
        description="Strings longer than this are scanned only up to this many characters.",
    )

    @field_validator("entities")
    @classmethod
    def _check_entities(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = sorted(set(v) - set(BUILTIN))
            if unknown:
                raise ValueError(f"unknown entities {unknown}; known: {sorted(BUILTIN)}")
        return v

    @model_validator(mode="after")
    def _check_tokenize(self) -> PiiConfig:
        uses = self.actions.default == Action.TOKENIZE or Action.TOKENIZE in (
            self.actions.spi,
            *self.actions.categories.values(),
            *self.actions.entities.values(),
        )
        if uses and self.tokenize.key is None:
            raise ValueError("an action rule uses `tokenize` but `tokenize.key` is not set")
        if self.tokenize.key is not None and len(self.tokenize.key.get_secret_value()) < 16:
            raise ValueError("`tokenize.key` must be at least 16 characters")
        return self
