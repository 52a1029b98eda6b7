from types import MappingProxyType

from cpragate.core.access import PURPOSES, Consumer, Identity
from cpragate.core.exchange import Exchange
from cpragate.testing import make_request


def test_identity_of_consumer_keeps_purpose_scopes_attributes() -> None:
    c = Consumer("support-app", "service_provider", frozenset({"customers:read"}), frozenset({"agent"}),
                 MappingProxyType({"tenants": ("t1",)}))
    i = Identity.of(c, "api_key", "cpg_ab12cd34")
    assert i.consumer == "support-app" and i.purpose == "service_provider"
    assert i.scopes == {"customers:read"} and i.roles == {"agent"}
    assert i.attribute("tenants") == ("t1",) and i.attribute("missing") == ()
    assert dict(i.claims) == {}


def test_identity_scopes_can_be_narrowed_and_claims_are_read_only() -> None:
    c = Consumer("app", scopes=frozenset({"a", "b"}))
    i = Identity.of(c, "jwt", "kid-1", scopes=frozenset({"a"}), claims={"sub": "42"})
    assert i.scopes == {"a"} and i.claims["sub"] == "42"
    assert isinstance(i.claims, MappingProxyType)
    assert c.purpose == "third_party"  # least trust unless declared
    assert PURPOSES == ("service_provider", "contractor", "third_party")


def test_exchange_slots_default_to_none() -> None:
    ex = Exchange(make_request(), "r1")
    assert ex.identity is None and ex.rate_limit is None
