"""Forging and cracking HS tokens offline."""

from __future__ import annotations

import base64
import json

import pytest

from cpragate.scanner import jwtutil
from cpragate.testing.scanner import jwt


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    h, c, s = token.split(".")
    dec = lambda p: json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # noqa: E731
    return dec(h), dec(c), s


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_a_dictionary_secret_is_cracked_for_every_hmac_size(alg: str) -> None:
    token = jwtutil.encode_hs({"alg": alg, "typ": "JWT"}, {"sub": "alice"}, "changeme")
    assert jwtutil.crack(token) == "changeme"


def test_a_random_secret_is_not_cracked_and_non_hmac_tokens_are_skipped() -> None:
    assert jwtutil.crack(jwtutil.encode_hs({"alg": "HS256"}, {"sub": "a"}, "x7Qp!vL2#rN9@kW4$zT8")) is None
    assert jwtutil.crack(jwt("a").replace(jwt("a").split(".")[0], jwtutil.unsigned({}, {}).split(".")[0])) is None
    assert jwtutil.crack("not-a-token") is None
    assert jwtutil.crack("eyJ!.x.y") is None


def test_forgeries_have_the_expected_shape() -> None:
    token = jwtutil.encode_hs({"alg": "HS256"}, {"sub": "alice"}, "secret")
    none = jwtutil.unsigned({"alg": "HS256", "typ": "JWT"}, {"sub": "alice"})
    h, c, s = _parts(none)
    assert h == {"alg": "none", "typ": "JWT"} and c == {"sub": "alice"} and s == ""
    tampered = jwtutil.with_claims(token, {"sub": "root"})
    assert tampered.split(".")[2] == token.split(".")[2] and _parts(tampered)[1] == {"sub": "root"}
    assert jwtutil.crack(tampered) is None  # the old signature no longer matches


def test_dictionary_has_no_duplicates_and_common_words() -> None:
    assert len(set(jwtutil.WEAK_SECRETS)) == len(jwtutil.WEAK_SECRETS)
    assert {"secret", "changeme", "your-256-bit-secret", "password"} <= set(jwtutil.WEAK_SECRETS)


@pytest.mark.parametrize(("secret", "masked"), [("secret123", "se******* (9 characters)"), ("key", "k** (3 characters)")])
def test_mask_secret_never_shows_the_whole_secret(secret: str, masked: str) -> None:
    assert jwtutil.mask_secret(secret) == masked and secret not in jwtutil.mask_secret(secret)
