"""The JWT attack suite: every way a token can be wrong is refused, with its rule named."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from cpragate.core.clock import FakeClock
from cpragate.errors import StorageError
from cpragate.filters.authn.config import JwtConfig
from cpragate.filters.authn.jwt import JwtVerifier, KeysUnavailable, TokenRejected, token_key

ISS, AUD = "https://idp.example", "cpragate-api"
RSA1 = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
RSA2 = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC1 = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
ED1 = OKPKey.import_key(ed25519.Ed25519PrivateKey.generate())


def b64(b: bytes) -> bytes:
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def pub(k: Any, kid: str) -> dict[str, Any]:
    d = k.as_dict(private=False)
    d["kid"] = kid
    return dict(d)


def sign(claims: dict[str, Any], key: Any = RSA1, alg: str = "RS256", kid: str | None = "k1", **hdr: Any) -> bytes:
    h: dict[str, Any] = {"alg": alg, **hdr}
    if kid is not None:
        h["kid"] = kid
    return jws.serialize_compact(h, json.dumps(claims).encode(), key, algorithms=[alg]).encode()


def claims(clock: FakeClock, **kw: Any) -> dict[str, Any]:
    now = int(clock.time())
    return {"iss": ISS, "aud": AUD, "sub": "alice", "exp": now + 300, "iat": now, **kw}


class Fetcher:
    def __init__(self, *keys: dict[str, Any]) -> None:
        self.doc = {"keys": list(keys)}
        self.calls = 0
        self.fail = False

    async def fetch(self, url: str) -> bytes:
        self.calls += 1
        if self.fail:
            raise StorageError("down")
        return json.dumps(self.doc).encode()


def verifier(clock: FakeClock, fetcher: Fetcher | None = None, **cfg: Any) -> JwtVerifier:
    base: dict[str, Any] = {"issuer": ISS, "audience": [AUD]}
    if fetcher is not None:
        base["jwks_url"] = "https://idp.example/jwks"
    else:
        base.setdefault("jwks", [pub(RSA1, "k1"), pub(EC1, "e1"), pub(ED1, "d1")])
    base.update(cfg)
    return JwtVerifier(JwtConfig.model_validate(base), clock, fetcher)


def reject(v: JwtVerifier, tok: bytes) -> str:
    with pytest.raises(TokenRejected) as e:
        asyncio.run(v.verify(tok))
    return e.value.reason


def test_valid_tokens_all_asymmetric_algorithms() -> None:
    c = FakeClock()
    v = verifier(c, algorithms=["RS256", "PS256", "ES256", "EdDSA", "Ed25519"])
    for key, alg, kid in ((RSA1, "RS256", "k1"), (RSA1, "PS256", "k1"), (EC1, "ES256", "e1"), (ED1, "Ed25519", "d1")):
        got = asyncio.run(v.verify(sign(claims(c), key, alg, kid)))
        assert got.claims["sub"] == "alice" and got.kid == kid
    with warnings.catch_warnings():  # issuers still sign "EdDSA" (RFC 8037 name)
        warnings.simplefilter("ignore")
        tok = sign(claims(c), ED1, "EdDSA", "d1")
    assert asyncio.run(v.verify(tok)).kid == "d1"


def test_alg_none_refused() -> None:
    c = FakeClock()
    h = b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    p = b64(json.dumps(claims(c)).encode())
    assert reject(verifier(c), h + b"." + p + b".") == "jwt:unsigned"
    assert reject(verifier(c), h + b"." + p + b"." + b64(b"x")) == "jwt:alg"
    for alg in ("None", "NONE"):
        hh = b64(json.dumps({"alg": alg}).encode())
        assert reject(verifier(c), hh + b"." + p + b"." + b64(b"x")) == "jwt:alg"


def test_hs_rs_confusion_refused() -> None:
    """An HS256 token MACed with the RSA public key (PEM or JWK form) is never accepted."""
    c = FakeClock()
    pem = RSA1.as_pem(private=False)
    h = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    p = b64(json.dumps(claims(c)).encode())
    for secret in (pem, json.dumps(pub(RSA1, "k1")).encode()):
        tok = h + b"." + p + b"." + b64(hmac.new(secret, h + b"." + p, hashlib.sha256).digest())
        assert reject(verifier(c), tok) == "jwt:alg"
    # even with HS256 enabled (its own secret), the RSA key is never the HMAC key
    v = verifier(c, hs256_secret="a-shared-secret-of-enough-length-0123456789", algorithms=["RS256", "HS256"])
    tok = h + b"." + p + b"." + b64(hmac.new(pem, h + b"." + p, hashlib.sha256).digest())
    assert reject(v, tok) == "jwt:signature"


def test_hs256_only_with_configured_secret() -> None:
    c = FakeClock()
    secret = "a-shared-secret-of-enough-length-0123456789"
    v = verifier(c, hs256_secret=secret, algorithms=["HS256"], jwks=[])
    tok = sign(claims(c), OctKey.import_key(secret.encode()), "HS256", None)
    assert asyncio.run(v.verify(tok)).claims["sub"] == "alice"
    assert reject(verifier(c), tok) == "jwt:alg"  # not listed without the secret
    with pytest.raises(ValueError, match="hs256_secret"):
        JwtConfig.model_validate({"issuer": ISS, "audience": [AUD], "jwks": [pub(RSA1, "k1")], "algorithms": ["HS256"]})


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"exp": -10_000}, "jwt:expired"),
        ({"nbf": 10_000}, "jwt:not-yet-valid"),
        ({"iat": 10_000}, "jwt:iat-future"),
        ({"aud": "other-api"}, "jwt:aud"),
        ({"aud": ["x", "y"]}, "jwt:aud"),
        ({"iss": "https://evil.example"}, "jwt:iss"),
        ({"iss": None}, "jwt:iss"),
        ({"exp": None}, "jwt:exp-missing"),
        ({"exp": "tomorrow"}, "jwt:exp-missing"),
    ],
)
def test_claims_refused(change: dict[str, Any], rule: str) -> None:
    c = FakeClock()
    cl = claims(c)
    now = int(c.time())
    for k, d in change.items():
        if d is None:
            cl.pop(k)
        elif isinstance(d, int) and k in ("exp", "nbf", "iat"):
            cl[k] = now + d
        else:
            cl[k] = d
    assert reject(verifier(c), sign(cl)) == rule


def test_leeway_is_applied() -> None:
    c = FakeClock()
    now = int(c.time())
    v = verifier(c, leeway=30)
    assert asyncio.run(v.verify(sign(claims(c, exp=now - 20, iat=now - 600))))
    assert asyncio.run(v.verify(sign(claims(c, nbf=now + 20))))
    assert reject(v, sign(claims(c, exp=now - 31, iat=now - 600))) == "jwt:expired"


def test_tampered_payload_and_stripped_signature() -> None:
    c = FakeClock()
    tok = sign(claims(c))
    h, p, s = tok.split(b".")
    evil = b64(json.dumps(claims(c, sub="admin")).encode())
    assert reject(verifier(c), h + b"." + evil + b"." + s) == "jwt:signature"
    assert reject(verifier(c), h + b"." + p + b".") == "jwt:unsigned"
    assert reject(verifier(c), h + b"." + p) == "jwt:malformed"
    assert reject(verifier(c), b"not.a.jwt!") in ("jwt:malformed", "jwt:alg")
    assert reject(verifier(c), sign(claims(c), RSA2)) == "jwt:signature"  # right kid, wrong key


def test_unknown_kid_and_crit_and_size() -> None:
    c = FakeClock()
    assert reject(verifier(c), sign(claims(c), RSA2, kid="k9")) == "jwt:unknown-kid"
    h = b64(json.dumps({"alg": "RS256", "kid": "k1", "crit": ["x-ext"], "x-ext": 1}).encode())
    body = h + b"." + b64(json.dumps(claims(c)).encode())
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    sig = RSA1.private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    assert reject(verifier(c), body + b"." + b64(sig)) == "jwt:crit"
    assert reject(verifier(c, max_token_bytes=256), sign(claims(c, pad="x" * 300))) == "jwt:too-long"


def test_no_kid_needs_exactly_one_fitting_key() -> None:
    c = FakeClock()
    one = verifier(c, jwks=[pub(RSA1, "k1")])
    assert asyncio.run(one.verify(sign(claims(c), kid=None))).kid == "-"
    two = verifier(c, jwks=[pub(RSA1, "k1"), pub(RSA2, "k2")])
    assert reject(two, sign(claims(c), kid=None)) == "jwt:unknown-kid"


def test_key_type_must_match_alg() -> None:
    c = FakeClock()
    # ES256 header naming the RSA key's kid: the key does not fit the algorithm
    assert reject(verifier(c), sign(claims(c), EC1, "ES256", "k1")) == "jwt:unknown-kid"


def test_jwks_rotation_and_refetch_rate_limit() -> None:
    c = FakeClock()
    f = Fetcher(pub(RSA1, "k1"))
    v = verifier(c, f, refetch_interval=30)
    assert asyncio.run(v.verify(sign(claims(c)))) and f.calls == 1
    # the issuer rotates to k2: the first token with k2 triggers one refetch
    f.doc = {"keys": [pub(RSA2, "k2")]}
    c.advance(31)
    assert asyncio.run(v.verify(sign(claims(c, n=1), RSA2, kid="k2"))) and f.calls == 2
    # the retired key is gone after rotation
    assert reject(v, sign(claims(c, n=2), RSA1, kid="k1")) == "jwt:unknown-kid"
    # a flood of random kids causes no further fetch within refetch_interval
    for i in range(50):
        assert reject(v, sign(claims(c, n=i), RSA2, kid=f"rand-{i}")) == "jwt:unknown-kid"
    assert f.calls == 2
    c.advance(31)  # one refetch per refetch_interval
    assert reject(v, sign(claims(c, n=99), RSA2, kid="rand-x")) == "jwt:unknown-kid"
    assert f.calls == 3


def test_jwks_failure_keeps_last_good_keys_or_is_unavailable() -> None:
    c = FakeClock()
    f = Fetcher(pub(RSA1, "k1"))
    f.fail = True
    v = verifier(c, f)
    with pytest.raises(KeysUnavailable):
        asyncio.run(v.verify(sign(claims(c))))
    f.fail = False
    c.advance(31)
    assert asyncio.run(v.verify(sign(claims(c))))
    f.fail = True
    c.advance(10_000)  # refresh due, fetch fails: the last good keys keep serving
    assert asyncio.run(v.verify(sign(claims(c, n=1))))


def test_jwks_from_url_ignores_private_and_symmetric_keys() -> None:
    c = FakeClock()
    priv = dict(RSA1.as_dict(private=True))
    priv["kid"] = "k1"
    f = Fetcher(priv, {"kty": "oct", "k": "c2VjcmV0", "kid": "s1"}, pub(RSA2, "k2"))
    v = verifier(c, f)
    assert reject(v, sign(claims(c), kid="k1")) == "jwt:unknown-kid"
    assert asyncio.run(v.verify(sign(claims(c), RSA2, kid="k2")))
    with pytest.raises(ValueError, match="private"):
        JwtConfig.model_validate({"issuer": ISS, "audience": [AUD], "jwks": [priv]})


def test_cache_hits_recheck_expiry_and_are_bounded() -> None:
    c = FakeClock()
    v = verifier(c, cache_size=16, leeway=0)
    now = int(c.time())
    tok = sign(claims(c, exp=now + 10))
    assert asyncio.run(v.verify(tok)) and len(v.cache) == 1
    assert asyncio.run(v.verify(tok))  # hit
    c.advance(11)
    assert reject(v, tok) == "jwt:expired"
    for i in range(40):
        asyncio.run(v.verify(sign(claims(c, n=i))))
    assert len(v.cache) <= 16
    assert all(e[1] <= c.time() + 300 for e in v.cache.values())  # kept no longer than its exp


def test_cache_compares_the_whole_token_so_no_other_token_hits() -> None:
    """The cache is keyed by the token's last 32 bytes and holds the whole token, compared
    in full: only the byte-identical, verified token hits. A token with the same header
    and claims but another signature, or the same signature (the same key) under altered
    claims, is verified from scratch (and refused)."""
    c = FakeClock()
    v = verifier(c)
    tok = sign(claims(c))
    assert asyncio.run(v.verify(tok)) and list(v.cache) == [token_key(tok)] and v.cache[token_key(tok)][0] == tok
    head, body, sig = tok.split(b".")
    other_sig = sig[:-2] + (b"AA" if sig[-2:] != b"AA" else b"BA")
    assert reject(v, b".".join((head, body, other_sig))) == "jwt:signature"
    forged = sign(claims(c, sub="mallory"))
    assert reject(v, b".".join((head, forged.split(b".")[1], sig))) == "jwt:signature"
    assert reject(v, tok + b"x") == "jwt:signature"
    assert list(v.cache) == [token_key(tok)] and v.cache[token_key(tok)][0] == tok
    assert asyncio.run(v.verify(tok)).claims["sub"]  # still a hit


def test_a_cached_token_not_yet_valid_again_is_refused() -> None:
    """A hit re-checks nbf (the wall clock may step back): the entry keeps nbf - leeway."""
    c = FakeClock()
    v = verifier(c, leeway=0)
    now = int(c.time())
    tok = sign(claims(c, nbf=now))
    assert asyncio.run(v.verify(tok))
    c._wall -= 5  # the wall clock stepped back (FakeClock.advance only goes forward)
    assert reject(v, tok) == "jwt:not-yet-valid"
