from typing import Any

import pytest
from pydantic import ValidationError

from cpragate.filters.authn.config import AuthnConfig, ConsumerConfig, RouteAuth


def test_active_only_with_a_credential_source() -> None:
    assert not AuthnConfig().active
    assert AuthnConfig.model_validate({"api_keys": {}}).active
    assert not AuthnConfig.model_validate({"api_keys": {}, "enabled": False}).active


@pytest.mark.parametrize(
    ("cfg", "msg"),
    [
        ({"consumers": [{"name": "a", "purpose": "contractor"}, {"name": "a", "purpose": "contractor"}]}, "twice"),
        ({"consumers": [{"name": "bad name", "purpose": "contractor"}]}, "consumer name"),
        ({"consumers": [{"name": "a", "purpose": "seller"}]}, "purpose"),
        ({"api_keys": {"header": "authorization"}}, "Authorization"),
        ({"api_keys": {"keys": [{"consumer": "a", "prefix": "cpg_x", "hash": "0" * 64}]}}, "prefix"),
        ({"jwt": {"issuer": "i", "audience": ["a"]}}, "needs keys"),
        ({"jwt": {"issuer": "i", "audience": ["a"], "jwks_url": "http://idp.example/jwks"}}, "https"),
        ({"jwt": {"issuer": "i", "audience": ["a"], "jwks_url": "https://x", "algorithms": ["none"]}}, "algorithms"),
        ({"jwt": {"issuer": "i", "audience": ["a"], "hs256_secret": "s"}}, "add HS256"),
        ({"mtls": {"consumers": {}}}, "consumers"),
    ],
)
def test_bad_configs(cfg: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValidationError, match=msg):
        AuthnConfig.model_validate(cfg)


def test_consumer_conversion_and_route_auth() -> None:
    c = ConsumerConfig(name="app", purpose="contractor", scopes=["a"], attributes={"tenants": ["t1"]}).to_consumer()
    assert c.scopes == {"a"} and c.attributes["tenants"] == ("t1",)
    assert RouteAuth().anonymous is False and RouteAuth(methods=["jwt"]).methods == ["jwt"]
