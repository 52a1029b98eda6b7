"""Key record lifetimes and row codecs; the store behaviour is in tests/contract."""

import asyncio
from types import MappingProxyType

from cpragate.core.access import Consumer
from cpragate.storage.access import (
    ApiKeyRecord,
    IdentityStore,
    MemoryIdentityStore,
    consumer_from_row,
    consumer_row,
    key_from_row,
    key_row,
)


def test_key_states() -> None:
    r = ApiKeyRecord("cpg_a", "h", "app", created=0, expires=100)
    assert r.state_at(10) == "active" and r.valid_at(99.9) and not r.valid_at(100)
    assert r.state_at(100) == "expired"
    rot = ApiKeyRecord("cpg_a", "h", "app", revoked=50)
    assert rot.state_at(10) == "rotating" and rot.valid_at(49) and rot.state_at(50) == "revoked"


def test_row_codecs_round_trip() -> None:
    c = Consumer("a", "contractor", frozenset({"x"}), frozenset(), MappingProxyType({"tenants": ("t1",)}), True)
    assert consumer_from_row(consumer_row(c)) == c
    for k in (ApiKeyRecord("p", "h", "a"), ApiKeyRecord("p", "h", "a", frozenset({"s"}), 1.5, 9.0, 3.0)):
        assert key_from_row(key_row(k)) == k


def test_memory_store_is_an_identity_store() -> None:
    assert isinstance(MemoryIdentityStore(), IdentityStore)
    m = MemoryIdentityStore()
    asyncio.run(m.put_key(ApiKeyRecord("p", "h", "a")))
    assert asyncio.run(m.revoke_key("p", 5.0)) and asyncio.run(m.revoke_key("p", 9.0))
    got = asyncio.run(m.get_key("p"))
    assert got is not None and got.revoked == 5.0
