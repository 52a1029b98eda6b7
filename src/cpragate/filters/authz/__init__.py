"""Authorization: scopes/roles/purpose (BFLA), object rules and owner checks (BOLA), served ids."""

from cpragate.filters.authz.config import AuthzConfig, AuthzRule, ObjectRule, OwnerRule, ServedIdsRule
from cpragate.filters.authz.filter import AuthzFilter
from cpragate.filters.authz.owner import OwnerCheckFilter

__all__ = ["AuthzConfig", "AuthzFilter", "AuthzRule", "ObjectRule", "OwnerCheckFilter", "OwnerRule", "ServedIdsRule"]
