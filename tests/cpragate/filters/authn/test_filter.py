"""The authn filter on plain objects: API keys (declared and stored), bearer JWTs, mTLS."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import RSAKey

from cpragate.core.access import Consumer
from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange, TlsInfo
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import AuthUnavailable, Forbidden, StorageError, Unauthenticated
from cpragate.filters.authn.apikeys import generate_key, hash_key
from cpragate.filters.authn.config import AuthnConfig, RouteAuth
from cpragate.filters.authn.filter import AuthnFilter
from cpragate.storage.access import ApiKeyRecord, MemoryIdentityStore
from cpragate.testing import make_exchange, make_request

KEY, PREFIX = generate_key()
RSA1 = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def route(**settings: Any) -> RouteInfo:
    return RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(**settings))


def cfg(**kw: Any) -> AuthnConfig:
    base: dict[str, Any] = {
        "consumers": [
            {"name": "app", "purpose": "service_provider", "scopes": ["a", "b"], "attributes": {"tenants": ["t1"]}},
        ],
        "api_keys": {"keys": [{"consumer": "app", "prefix": PREFIX, "hash": hash_key(KEY.encode())}]},
    }
    base.update(kw)
    return AuthnConfig.model_validate(base)


class Stores(SimpleNamespace):
    pass


FAST = {"on": True}


@pytest.fixture(autouse=True, params=[True, False], ids=["fast", "await"])
def _path(request: pytest.FixtureRequest) -> None:
    """Every test both ways: as the data plane runs it (``request_now`` first, awaiting
    ``on_request`` only when it cannot decide) and always awaiting ``on_request``."""
    FAST["on"] = request.param


def run(f: AuthnFilter, ex: Exchange) -> Any:
    if FAST["on"]:
        v = f.request_now(ex)
        if v is not None:
            return v
    return asyncio.run(f.on_request(ex))


def ex_with(headers: dict[str, str] | None = None, r: RouteInfo | None = None, tls: TlsInfo | None = None, target: str = "/r") -> Exchange:
    e = make_exchange(make_request("GET", target, headers), route=r or route())
    e.tls = tls
    return e


def test_inert_without_credential_sources() -> None:
    f = AuthnFilter(AuthnConfig(), FilterContext(clock=FakeClock()))
    assert not f.applies_to(route())


def test_declared_key_sets_identity_and_forwards_consumer_not_key() -> None:
    f = AuthnFilter(cfg(), FilterContext(clock=FakeClock()))
    e = ex_with({"x-api-key": KEY, "x-cpragate-consumer": "admin"})
    assert run(f, e) is CONTINUE
    assert e.identity is not None and e.identity.consumer == "app" and e.identity.purpose == "service_provider"
    assert e.identity.credential_id == PREFIX and e.identity.attribute("tenants") == ("t1",)
    assert e.request.headers.get(b"x-cpragate-consumer") == b"app"
    assert e.request.headers.get(b"x-api-key") is None
    assert KEY not in repr(e.decisions)


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({}, "authn:missing"),
        ({"x-api-key": "nonsense"}, "authn:api_key:malformed"),
        ({"x-api-key": KEY[:-1] + ("A" if KEY[-1] != "A" else "B")}, "authn:api_key:mismatch"),
        ({"x-api-key": generate_key()[0]}, "authn:api_key:unknown"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "authn:missing"),
    ],
)
def test_refusals_are_401_with_challenge_and_a_rule(headers: dict[str, str], rule: str) -> None:
    f = AuthnFilter(cfg(), FilterContext(clock=FakeClock()))
    v = run(f, ex_with(headers))
    assert isinstance(v, Deny) and v.error is Unauthenticated and v.rule == rule
    assert any(n == b"www-authenticate" and v_.startswith(b"ApiKey") for n, v_ in v.headers)


def test_anonymous_route_and_methods_and_query_key() -> None:
    f = AuthnFilter(cfg(), FilterContext(clock=FakeClock()))
    e = ex_with(r=route(auth=RouteAuth(anonymous=True)))
    assert run(f, e) is CONTINUE and e.identity is None
    only_jwt = route(auth=RouteAuth(methods=["jwt"]))
    v = run(f, ex_with({"x-api-key": KEY}, r=only_jwt))
    assert isinstance(v, Deny) and v.rule == "authn:missing"
    q = route(auth=RouteAuth(query_key="api_key"))
    e = ex_with(r=q, target=f"/r?api_key={KEY}")
    assert run(f, e) is CONTINUE and e.identity is not None
    assert isinstance(run(f, ex_with(target=f"/r?api_key={KEY}")), Deny)  # not without the route's opt-in


def test_stored_keys_lifecycle_revocation_rotation_expiry() -> None:
    clock = FakeClock()
    store = MemoryIdentityStore()
    stores = Stores(identity=store)
    f = AuthnFilter(cfg(api_keys={"cache_seconds": 0}), FilterContext(clock=clock, stores=stores))
    k, p = generate_key()
    asyncio.run(store.put_consumer(Consumer("stored", "contractor", frozenset({"x"}))))
    asyncio.run(store.put_key(ApiKeyRecord(p, hash_key(k.encode()), "stored", frozenset({"x", "y"}), clock.time(), clock.time() + 100)))
    e = ex_with({"x-api-key": k})
    assert run(f, e) is CONTINUE and e.identity is not None and e.identity.scopes == {"x"}  # key narrows, never widens
    asyncio.run(store.revoke_key(p, clock.time() + 10))  # rotation overlap: still valid for 10 s
    assert run(f, ex_with({"x-api-key": k})) is CONTINUE
    clock.advance(10)
    v = run(f, ex_with({"x-api-key": k}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:revoked"
    k2, p2 = generate_key()
    asyncio.run(store.put_key(ApiKeyRecord(p2, hash_key(k2.encode()), "stored", None, clock.time(), clock.time() + 5)))
    clock.advance(6)
    v = run(f, ex_with({"x-api-key": k2}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:expired"
    k3, p3 = generate_key()
    asyncio.run(store.put_key(ApiKeyRecord(p3, hash_key(k3.encode()), "ghost")))
    v = run(f, ex_with({"x-api-key": k3}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:consumer"


class FailingStore(MemoryIdentityStore):
    fail = False

    async def get_key(self, prefix: str) -> ApiKeyRecord | None:
        if self.fail:
            raise StorageError("down")
        return await super().get_key(prefix)


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_store_failure_policy(on_error: str) -> None:
    clock = FakeClock()
    store = FailingStore()
    f = AuthnFilter(cfg(on_error=on_error, api_keys={"cache_seconds": 1}), FilterContext(clock=clock, stores=Stores(identity=store)))
    k, p = generate_key()
    asyncio.run(store.put_consumer(Consumer("s", "contractor")))
    asyncio.run(store.put_key(ApiKeyRecord(p, hash_key(k.encode()), "s")))
    assert run(f, ex_with({"x-api-key": k})) is CONTINUE
    store.fail = True
    clock.advance(2)
    v = run(f, ex_with({"x-api-key": k}))
    if on_error == "deny":
        assert isinstance(v, Deny) and v.error is AuthUnavailable
    else:
        assert v is CONTINUE  # a key verified before, from the last good record
    other, _ = generate_key()
    v = run(f, ex_with({"x-api-key": other}))
    assert isinstance(v, Deny) and v.error is AuthUnavailable  # never admits an unseen key


def test_hash_secret_changes_the_hash() -> None:
    f = AuthnFilter(cfg(api_keys={"hash_secret": "pepper", "keys": [{"consumer": "app", "prefix": PREFIX, "hash": hash_key(KEY.encode())}]}),
                    FilterContext(clock=FakeClock()))
    v = run(f, ex_with({"x-api-key": KEY}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:mismatch"


def _token(clock: FakeClock, **claims: Any) -> str:
    c = {"iss": "https://idp", "aud": "api", "sub": "app", "exp": int(clock.time()) + 60, "scope": "a c", **claims}
    return jws.serialize_compact({"alg": "RS256", "kid": "k1"}, json.dumps(c).encode(), RSA1, algorithms=["RS256"])


def jwt_cfg(**kw: Any) -> AuthnConfig:
    pubk = dict(RSA1.as_dict(private=False))
    pubk["kid"] = "k1"
    return cfg(jwt={"issuer": "https://idp", "audience": ["api"], "jwks": [pubk], **kw})


def test_bearer_token_scopes_intersect_declared_consumer() -> None:
    clock = FakeClock()
    f = AuthnFilter(jwt_cfg(), FilterContext(clock=clock))
    e = ex_with({"authorization": f"Bearer {_token(clock)}"})
    assert run(f, e) is CONTINUE and e.identity is not None
    assert e.identity.method == "jwt" and e.identity.scopes == {"a"} and e.identity.claims["sub"] == "app"
    e = ex_with({"authorization": f"Bearer {_token(clock, sub='someone')}"})
    assert run(f, e) is CONTINUE and e.identity is not None
    assert e.identity.purpose == "third_party" and e.identity.scopes == {"a", "c"}


def test_bearer_refusals() -> None:
    clock = FakeClock()
    f = AuthnFilter(jwt_cfg(require_consumer=True), FilterContext(clock=clock))
    v = run(f, ex_with({"authorization": f"Bearer {_token(clock, sub='someone')}"}))
    assert isinstance(v, Deny) and v.rule == "authn:jwt:unknown-consumer"
    assert any(b'error="invalid_token"' in val for _, val in v.headers)
    v = run(f, ex_with({"authorization": f"Bearer {_token(clock, aud='x')}"}))
    assert isinstance(v, Deny) and v.rule == "authn:jwt:aud"
    v = run(f, ex_with({"authorization": f"Bearer {_token(clock, sub=5)}"}))
    assert isinstance(v, Deny) and v.rule == "authn:jwt:consumer-claim"
    need = route(auth=RouteAuth(required_claims=["acr"]))
    v = run(f, ex_with({"authorization": f"Bearer {_token(clock)}"}, r=need))
    assert isinstance(v, Deny) and v.error is Forbidden
    assert run(f, ex_with({"authorization": f"Bearer {_token(clock, acr='mfa')}"}, r=need)) is CONTINUE


def test_jwks_unavailable_is_503() -> None:
    class Down:
        async def fetch(self, url: str) -> bytes:
            raise StorageError("down")

    clock = FakeClock()
    c = cfg(jwt={"issuer": "https://idp", "audience": ["api"], "jwks_url": "https://idp/jwks"})
    f = AuthnFilter(c, FilterContext(clock=clock, stores=Stores(fetcher=Down())))
    v = run(f, ex_with({"authorization": f"Bearer {_token(clock)}"}))
    assert isinstance(v, Deny) and v.error is AuthUnavailable


def test_mtls_subject_and_san_mapping() -> None:
    f = AuthnFilter(cfg(mtls={"consumers": {"CN=partner,O=Dev": "app"}}), FilterContext(clock=FakeClock()))
    e = ex_with(tls=TlsInfo("TLSv1.3", "x", "CN=partner,O=Dev", ("partner.example",)))
    assert run(f, e) is CONTINUE and e.identity is not None and e.identity.method == "mtls"
    v = run(f, ex_with(tls=TlsInfo("TLSv1.3", "x", "CN=other", ())))
    assert isinstance(v, Deny) and v.rule == "authn:mtls:unmapped"
    f = AuthnFilter(cfg(mtls={"match": "san", "consumers": {"partner.example": "app"}}), FilterContext(clock=FakeClock()))
    e = ex_with(tls=TlsInfo("TLSv1.3", "x", "CN=whatever", ("partner.example",)))
    assert run(f, e) is CONTINUE and e.identity is not None


def test_verified_key_cache_never_outlives_the_lookup_and_never_admits_a_sibling() -> None:
    clock = FakeClock()
    store = MemoryIdentityStore()
    f = AuthnFilter(cfg(api_keys={"cache_seconds": 5}), FilterContext(clock=clock, stores=Stores(identity=store)))
    k, p = generate_key()
    asyncio.run(store.put_consumer(Consumer("s", "contractor")))
    asyncio.run(store.put_key(ApiKeyRecord(p, hash_key(k.encode()), "s")))
    first, second = ex_with({"x-api-key": k}), ex_with({"x-api-key": k})
    assert run(f, first) is CONTINUE and run(f, second) is CONTINUE
    assert second.identity is first.identity and len(f.verified) == 1  # the second came from the verified cache
    assert second.request.headers.get(b"x-api-key") is None
    forged = k[:-1] + ("A" if k[-1] != "A" else "B")  # same prefix, another secret
    v = run(f, ex_with({"x-api-key": forged}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:mismatch"
    asyncio.run(store.revoke_key(p, clock.time()))
    assert run(f, ex_with({"x-api-key": k})) is CONTINUE  # within cache_seconds, as before the cache
    clock.advance(6)
    v = run(f, ex_with({"x-api-key": k}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:revoked"



def test_fast_path_decides_only_verified_credentials_and_changes_nothing_otherwise() -> None:
    clock = FakeClock()
    f = AuthnFilter(jwt_cfg(), FilterContext(clock=clock))
    assert f.cache_seconds < 6
    fresh = ex_with({"x-api-key": KEY, "x-cpragate-consumer": "admin"})
    assert f.request_now(fresh) is None  # never seen: the awaited path verifies it
    assert fresh.identity is None and not fresh.decisions
    assert fresh.request.headers.get(b"x-api-key") == KEY.encode()
    assert fresh.request.headers.get(b"x-cpragate-consumer") == b"admin"
    assert asyncio.run(f.on_request(fresh)) is CONTINUE
    again = ex_with({"x-api-key": KEY, "x-cpragate-consumer": "admin"})
    assert f.request_now(again) is CONTINUE and again.identity is fresh.identity
    assert again.request.headers.get(b"x-api-key") is None and again.request.headers.get(b"x-cpragate-consumer") == b"app"
    assert [d.rule for d in again.decisions] == [f"api_key:{PREFIX}"]
    forged = KEY[:-1] + ("A" if KEY[-1] != "A" else "B")
    assert f.request_now(ex_with({"x-api-key": forged})) is None  # a sibling never hits the cache
    assert f.request_now(ex_with({"x-api-key": KEY}, r=route(auth=RouteAuth(methods=["jwt"])))) is None
    clock.advance(6)
    assert f.request_now(ex_with({"x-api-key": KEY})) is None  # stale: looked up again
    tok = _token(clock)
    assert f.request_now(ex_with({"authorization": f"Bearer {tok}"})) is None
    first = ex_with({"authorization": f"Bearer {tok}"})
    assert asyncio.run(f.on_request(first)) is CONTINUE
    second = ex_with({"authorization": f"Bearer {tok}"})
    assert f.request_now(second) is CONTINUE and second.identity is first.identity
    clock.advance(120)  # the token expired: not decided here, refused by the awaited path
    late = ex_with({"authorization": f"Bearer {tok}"})
    assert f.request_now(late) is None and late.identity is None
    v = asyncio.run(f.on_request(late))
    assert isinstance(v, Deny) and v.rule == "authn:jwt:expired"


def test_fast_path_required_claims_refusal_drops_the_forward_header() -> None:
    clock = FakeClock()
    f = AuthnFilter(cfg(), FilterContext(clock=clock))
    assert run(f, ex_with({"x-api-key": KEY})) is CONTINUE
    e = ex_with({"x-api-key": KEY, "x-cpragate-consumer": "admin"}, r=route(auth=RouteAuth(required_claims=["acr"])))
    v = f.request_now(e)
    assert isinstance(v, Deny) and v.error is Forbidden
    assert e.request.headers.get(b"x-cpragate-consumer") is None


def test_per_key_output_is_cached_once_however_often_the_identity_is_rebuilt() -> None:
    """A key's identity is rebuilt every cache_seconds; the forwarded-consumer bytes and the
    decision text depend only on (consumer, method, key prefix), so one entry serves them
    all (keyed by the identity object, each rebuild left a dead entry: the soak's riser)."""
    clock = FakeClock()
    f = AuthnFilter(cfg(), FilterContext(clock=clock))
    for _ in range(50):
        e = ex_with({"x-api-key": KEY})
        assert run(f, e) is CONTINUE
        assert e.request.headers.get(b"x-cpragate-consumer") == b"app"
        assert [d.rule for d in e.decisions] == [f"api_key:{PREFIX}"]
        clock.advance(f.cache_seconds + 1)  # the cached lookup expires: a new identity
    assert len(f.emitted) == 1


def test_verified_key_cache_refuses_at_expiry_and_rotation_end_without_waiting_for_cache_seconds() -> None:
    """The verified-key table holds a key for cache_seconds (here 300), but a record's own
    expiry and revocation date are checked on every hit: refused at that very instant."""
    clock = FakeClock()
    store = MemoryIdentityStore()
    f = AuthnFilter(cfg(api_keys={"cache_seconds": 300}), FilterContext(clock=clock, stores=Stores(identity=store)))
    asyncio.run(store.put_consumer(Consumer("s", "contractor")))
    expiring, p1 = generate_key()
    asyncio.run(store.put_key(ApiKeyRecord(p1, hash_key(expiring.encode()), "s", None, clock.time(), clock.time() + 10)))
    rotating, p2 = generate_key()
    asyncio.run(store.put_key(ApiKeyRecord(p2, hash_key(rotating.encode()), "s", None, clock.time(), None, clock.time() + 20)))
    for k in (expiring, rotating):
        assert run(f, ex_with({"x-api-key": k})) is CONTINUE
        assert f.request_now(ex_with({"x-api-key": k})) is CONTINUE  # from the verified cache
    clock.advance(10)
    assert f.request_now(ex_with({"x-api-key": expiring})) is None  # expired: never from the cache
    v = run(f, ex_with({"x-api-key": expiring}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:expired"
    assert f.request_now(ex_with({"x-api-key": rotating})) is CONTINUE  # the rotation overlap still runs
    clock.advance(10)
    assert f.request_now(ex_with({"x-api-key": rotating})) is None
    v = run(f, ex_with({"x-api-key": rotating}))
    assert isinstance(v, Deny) and v.rule == "authn:api_key:revoked"
    # neither key is held any longer: a refused key is deleted from the table, not ignored
    assert expiring.encode() not in f.verified and rotating.encode() not in f.verified


def test_verified_keys_leave_memory_after_cache_seconds() -> None:
    """No key is held past cache_seconds once another API-key request comes: stale entries
    are dropped from the front of the table, not only skipped."""
    clock = FakeClock()
    store = MemoryIdentityStore()
    f = AuthnFilter(cfg(api_keys={"cache_seconds": 5}), FilterContext(clock=clock, stores=Stores(identity=store)))
    asyncio.run(store.put_consumer(Consumer("s", "contractor")))
    keys = []
    for _ in range(3):
        k, p = generate_key()
        asyncio.run(store.put_key(ApiKeyRecord(p, hash_key(k.encode()), "s")))
        keys.append(k)
        assert run(f, ex_with({"x-api-key": k})) is CONTINUE
        clock.advance(2)
    assert [x.decode() for x in f.verified] == keys  # stored in order: 6, 4 and 2 s old
    assert f.request_now(ex_with({"x-api-key": keys[2]})) is CONTINUE
    assert [x.decode() for x in f.verified] == keys[1:]  # the first, older than 5 s, is gone
    clock.advance(6)
    assert f.request_now(ex_with({"x-api-key": "not-a-key"})) is None  # any API-key request sweeps
    assert list(f.verified) == []
    assert run(f, ex_with({"x-api-key": keys[0]})) is CONTINUE  # verified again from the store
    assert [x.decode() for x in f.verified] == [keys[0]]


def test_verified_key_cache_hits_only_the_exact_key_and_stays_bounded() -> None:
    """Keyed by the presented key: a key of the same prefix, a truncated or extended key,
    another case never hit it; a refused key is never stored; at most cache_size keys."""
    clock = FakeClock()
    store = MemoryIdentityStore()
    f = AuthnFilter(cfg(api_keys={"cache_size": 16}), FilterContext(clock=clock, stores=Stores(identity=store)))
    asyncio.run(store.put_consumer(Consumer("s", "contractor")))
    k, p = generate_key()
    asyncio.run(store.put_key(ApiKeyRecord(p, hash_key(k.encode()), "s")))
    assert run(f, ex_with({"x-api-key": k})) is CONTINUE
    assert list(f.verified) == [k.encode()]
    sibling = k[:-1] + ("A" if k[-1] != "A" else "B")
    for other in (sibling, k[:-1], k + "A", k.upper(), k.swapcase()):
        assert f.request_now(ex_with({"x-api-key": other})) is None
        v = run(f, ex_with({"x-api-key": other}))
        assert isinstance(v, Deny) and v.error is Unauthenticated
    assert list(f.verified) == [k.encode()]  # refusals add nothing
    for _ in range(40):
        k2, p2 = generate_key()
        asyncio.run(store.put_key(ApiKeyRecord(p2, hash_key(k2.encode()), "s")))
        assert run(f, ex_with({"x-api-key": k2})) is CONTINUE
    assert len(f.verified) <= 16 and k.encode() not in f.verified  # the oldest went first
    assert f.request_now(ex_with({"x-api-key": k})) is None  # evicted: verified again
    assert run(f, ex_with({"x-api-key": k})) is CONTINUE


def test_admitted_requests_drop_every_client_copy_and_share_one_decision() -> None:
    """Every copy of the key header and of the forward header the client sent goes; one
    forward header names the consumer; the decision object is the same for every request
    of the identity (read-only, so shared)."""
    f = AuthnFilter(cfg(), FilterContext(clock=FakeClock()))
    seen = []
    for _ in range(3):
        e = make_exchange(make_request("GET", "/r", None), route=route())
        h = e.request.headers
        for n, v in ((b"x-cpragate-consumer", b"admin"), (b"x-api-key", KEY.encode()), (b"accept", b"*/*"),
                     (b"x-api-key", b"second"), (b"x-cpragate-consumer", b"root")):  # fmt: skip
            h.add(n, v)
        assert run(f, e) is CONTINUE
        assert h.get_all(b"x-cpragate-consumer") == [b"app"] and h.get_all(b"x-api-key") == []
        assert h.get(b"accept") == b"*/*"
        (d,) = e.decisions
        assert (d.filter, d.outcome, d.rule) == ("authn", "allow", f"api_key:{PREFIX}")
        seen.append(d)
    assert seen[0] is seen[1] is seen[2]
    keep = AuthnFilter(cfg(forward_credentials=True), FilterContext(clock=FakeClock()))
    for _ in range(2):
        e = ex_with({"x-api-key": KEY, "x-cpragate-consumer": "admin"})
        assert run(keep, e) is CONTINUE
        assert e.request.headers.get_all(b"x-api-key") == [KEY.encode()]
        assert e.request.headers.get_all(b"x-cpragate-consumer") == [b"app"]


def test_bearer_token_after_an_api_key_header_is_not_looked_at() -> None:
    """An API key decides even when an Authorization header comes first in the request."""
    clock = FakeClock()
    f = AuthnFilter(jwt_cfg(), FilterContext(clock=clock))
    tok = _token(clock)
    for _ in range(2):
        e = make_exchange(make_request("GET", "/r", None), route=route())
        e.request.headers.add(b"authorization", f"Bearer {tok}".encode())
        e.request.headers.add(b"x-api-key", KEY.encode())
        assert run(f, e) is CONTINUE and e.identity is not None and e.identity.method == "api_key"
        assert e.request.headers.get(b"authorization") == f"Bearer {tok}".encode()  # forwarded, as always
