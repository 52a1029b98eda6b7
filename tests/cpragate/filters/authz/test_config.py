from typing import Any

import pytest
from pydantic import ValidationError

from cpragate.filters.authz.config import AuthzConfig, AuthzRule


def test_good_rule() -> None:
    r = AuthzRule.model_validate(
        {
            "scopes": ["customers:read"],
            "purposes": ["service_provider"],
            "objects": [{"param": "path.id", "equals": "claims.sub"}, {"param": "query.t", "in": "consumer.tenants", "required": False}],
            "owner": [{"field": "/items/*/tenant_id", "in": "consumer.tenants"}],
            "served_ids": {"namespace": "customers", "learn": "/items/*/id"},
        }
    )
    assert r.objects[1].ref == "consumer.tenants" and r.objects[0].equals == "claims.sub"
    assert AuthzConfig().deny_objects_as == "not_found"


@pytest.mark.parametrize(
    ("rule", "msg"),
    [
        ({"objects": [{"param": "path.id"}]}, "exactly one"),
        ({"objects": [{"param": "path.id", "equals": "claims.sub", "in": "consumer.tenants"}]}, "exactly one"),
        ({"objects": [{"param": "cookie.x", "equals": "claims.sub"}]}, "path.<name>"),
        ({"objects": [{"param": "path.id", "equals": "__import__('os')"}]}, "consumer.name"),
        ({"owner": [{"field": "tenant_id", "equals": "claims.sub"}]}, "JSON pointer"),
        ({"served_ids": {"namespace": "c"}}, "learn"),
        ({"purposes": ["seller"]}, "purposes"),
    ],
)
def test_bad_rules(rule: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValidationError, match=msg):
        AuthzRule.model_validate(rule)
