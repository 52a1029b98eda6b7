"""Config of the authz filters (``filters.authz``) and of a route's ``authz:`` rule.

The rule language is small and declarative (no expressions, no eval). A reference names
a value of the caller — ``consumer.name``, ``consumer.purpose``, ``consumer.<attribute>``
(e.g. ``consumer.tenants``) or ``claims.<claim>`` — and a parameter names a value of the
request — ``path.<name>``, ``query.<name>``, ``header.<name>`` or ``body.<JSON pointer>``.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from cpragate.core.access import Purpose
from cpragate.core.filter import FilterConfig

__all__ = ["AuthzConfig", "AuthzRule", "ObjectRule", "OwnerRule", "ServedIdsRule"]

_REF = re.compile(r"^(consumer\.[A-Za-z0-9_-]+|claims\.[A-Za-z0-9_:.-]+)$")
_PARAM = re.compile(r"^(path\.[A-Za-z0-9_]+|query\.[A-Za-z0-9_.-]+|header\.[A-Za-z0-9-]+|body\./.*)$")
_POINTER = re.compile(r"^(/[^/]*)+$")


def _ref(v: str | None) -> str | None:
    if v is not None and not _REF.match(v):
        raise ValueError(f"{v!r} must be consumer.name, consumer.purpose, consumer.<attribute> or claims.<claim>")
    return v


def _param(v: str) -> str:
    if not _PARAM.match(v):
        raise ValueError(f"{v!r} must be path.<name>, query.<name>, header.<name> or body./json/pointer")
    return v


class _Compare(FilterConfig):
    equals: str | None = Field(None, description="The value must equal this reference (e.g. claims.sub).")
    in_: str | None = Field(None, alias="in", description="The value must be one of this reference's values (e.g. consumer.tenants).")

    @field_validator("equals", "in_")
    @classmethod
    def _v_ref(cls, v: str | None) -> str | None:
        return _ref(v)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("give exactly one of `equals` or `in`")
        return self

    @property
    def ref(self) -> str:
        return self.equals if self.equals is not None else str(self.in_)


class ObjectRule(_Compare):
    """A request-side object rule: ``{param: path.customer_id, equals: claims.sub}``."""

    param: str = Field(..., description="path.<name> | query.<name> | header.<name> | body./json/pointer")
    required: bool = Field(True, description="Refuse when the parameter is absent (false: the rule holds then).")

    @field_validator("param")
    @classmethod
    def _v_param(cls, v: str) -> str:
        return _param(v)


class OwnerRule(_Compare):
    """A response-side owner check: a field of the returned object must belong to the caller."""

    field: str = Field(
        ..., description="JSON pointer into the response; `*` matches every array item, e.g. /items/*/tenant_id."
    )

    @field_validator("field")
    @classmethod
    def _v_field(cls, v: str) -> str:
        if not _POINTER.match(v):
            raise ValueError(f"{v!r} must be a JSON pointer such as /tenant_id or /items/*/tenant_id")
        return v


class ServedIdsRule(FilterConfig):
    """Opaque-id guard: ids are learned from responses and required on later requests, per consumer."""

    namespace: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Name of the id set (e.g. customers); learn and require use the same.")
    learn: str | None = Field(None, description="JSON pointer of ids to learn from 2xx responses, `*` for array items (e.g. /items/*/id).")
    require: str | None = Field(None, description="Parameter that must be an id served before to this consumer (e.g. path.id).")
    max_ids: int = Field(10_000, ge=1, le=1_000_000, description="Most ids remembered per consumer and namespace (oldest forgotten first).")
    ttl: float = Field(86_400.0, gt=0, description="Seconds ids are remembered after the consumer last received one.")

    @field_validator("learn")
    @classmethod
    def _v_learn(cls, v: str | None) -> str | None:
        if v is not None and not _POINTER.match(v):
            raise ValueError(f"{v!r} must be a JSON pointer such as /items/*/id")
        return v

    @field_validator("require")
    @classmethod
    def _v_require(cls, v: str | None) -> str | None:
        return None if v is None else _param(v)

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.learn is None and self.require is None:
            raise ValueError("served_ids needs `learn`, `require` or both")
        return self


class AuthzRule(FilterConfig):
    """A route's authorization rule (``routes[].authz``): all of its parts must allow."""

    anonymous: bool = Field(False, description="Allow callers without identity (only on routes whose auth is anonymous).")
    scopes: list[str] = Field(default_factory=list, description="Scopes the caller must all hold (function level, BFLA).")
    roles: list[str] = Field(default_factory=list, description="The caller must hold at least one of these roles.")
    purposes: list[Purpose] | None = Field(None, description="CPRA purposes allowed (e.g. [service_provider, contractor]).")
    consumers: list[str] | None = Field(None, description="Only these consumers, by name.")
    objects: list[ObjectRule] = Field(default_factory=list, description="Object rules on request parameters (BOLA).")
    owner: list[OwnerRule] = Field(default_factory=list, description="Owner checks on the response body (BOLA with opaque ids).")
    served_ids: ServedIdsRule | None = Field(None, description="Learn ids served and/or require a previously served id.")
    deny_objects_as: Literal["not_found", "forbidden"] | None = Field(
        None, description="Answer object-level denials 404 or 403 (default: filters.authz.deny_objects_as)."
    )


class AuthzConfig(FilterConfig):
    """Authorization: default deny for identified callers; routes allow by their `authz` rule."""

    enabled: bool = Field(True, description="Turn authorization off (then any authenticated caller may call any route).")
    deny_objects_as: Literal["not_found", "forbidden"] = Field(
        "not_found", description="Object-level denials answer 404 (ids cannot be enumerated) or 403."
    )
    unruled_routes: Literal["deny", "allow_authenticated"] = Field(
        "deny",
        description="Identified callers on routes without an `authz` rule: deny (least privilege; the default when authn is configured) or allow.",
    )
    per_worker: bool = Field(
        False, description="Accept served ids kept per process with --workers > 1 (each worker learns its own)."
    )
    on_error: Literal["deny", "allow"] = Field(
        "deny", description="When the served-id store fails: deny (503), or allow and keep ids in this process (logged)."
    )
