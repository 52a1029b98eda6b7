"""Config of the minimize filter (``filters.minimize``) and of a route's rules (``routes[].minimize``).

A route lists rules; each names the callers it is for (consumer names and/or CPRA
purposes) and what they receive (``response``) or what is forwarded upstream from them
(``request``), as an allow-list or a deny-list of field paths::

    minimize:
      rules:
        - purposes: [third_party]
          response: {allow: [id, email, marketing_opt_in]}
        - consumers: [support-desk]
          response: {deny: [ssn, card_number, "address.street"]}
      default:                       # anyone no rule names, anonymous callers included
        response: {deny: [ssn]}

The rule naming the caller's consumer wins over one naming its purpose; among those,
the first listed. Without a match and without ``default`` the bodies pass unchanged.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from cpragate.core.filter import FilterConfig
from cpragate.filters.minimize.paths import FieldTree, PathError

__all__ = ["FieldPolicy", "FieldRule", "MinimizeConfig", "MinimizeRouteSettings", "MinimizeRule"]

Mode = Literal["enforce", "monitor"]
Purpose = Literal["service_provider", "contractor", "third_party"]


class FieldRule(FilterConfig):
    """Which fields of one body pass: an allow-list, a deny-list, or both (allow first)."""

    allow: list[str] | None = Field(
        None,
        description="Field paths kept (with everything below them); every other member is removed. "
        "`items[*].id`, `$.customer.address`, `address.*`. Null: no allow-list.",
    )
    deny: list[str] = Field(default_factory=list, description="Field paths removed.")

    @field_validator("allow", "deny")
    @classmethod
    def _paths(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            try:
                FieldTree(v)
            except PathError as e:
                raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.allow is None and not self.deny:
            raise ValueError("a field rule needs `allow` or `deny` (or both)")
        return self


class FieldPolicy(FilterConfig):
    """What happens to the request and response bodies of the callers a rule applies to."""

    response: FieldRule | None = Field(None, description="Fields of the response body the caller receives.")
    request: FieldRule | None = Field(
        None, description="Fields of the request body forwarded upstream (e.g. drop `ssn` a client should not send)."
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.response is None and self.request is None:
            raise ValueError("give `response` and/or `request` field rules")
        return self


class MinimizeRule(FieldPolicy):
    """A field policy for the callers named by consumer and/or purpose."""

    consumers: list[str] = Field(default_factory=list, description="Consumer names this rule is for.")
    purposes: list[Purpose] = Field(
        default_factory=list,
        description="CPRA purposes this rule is for: service_provider, contractor, third_party.",
    )

    @model_validator(mode="after")
    def _who(self) -> Self:
        if not self.consumers and not self.purposes:
            raise ValueError("a minimize rule needs `consumers` or `purposes` (use `default` for everyone else)")
        return self


class MinimizeRouteSettings(FilterConfig):
    """A route's data-minimization rules, chosen by the caller's consumer name or purpose."""

    mode: Mode | None = Field(
        None,
        description="`enforce` removes the fields; `monitor` forwards them and records what would have been "
        "removed. Null follows `filters.minimize.mode`.",
    )
    rules: list[MinimizeRule] = Field(
        default_factory=list,
        description="Rules by consumer or purpose: a rule naming the consumer wins over one naming its purpose; "
        "first match wins.",
    )
    default: FieldPolicy | None = Field(
        None, description="For callers no rule names, anonymous ones included; null: their bodies pass unchanged."
    )


class MinimizeConfig(FilterConfig):
    """Per-purpose data minimization: field allow-lists and deny-lists per route (`routes[].minimize`)."""

    enabled: bool = Field(True, description="Run minimization on routes that declare `minimize` rules.")
    mode: Mode = Field("enforce", description="Default mode of every route's rules: enforce | monitor.")
    on_error: Literal["deny", "allow"] = Field(
        "deny",
        description="A body a rule applies to that is not JSON (or does not parse): `deny` answers 502 "
        "(CPG-VAL-007) instead of forwarding fields nobody checked; `allow` forwards it and logs a warning.",
    )
