"""Forging and cracking JWTs offline, for the broken-authentication checks (API2).

Only HMAC (HS256/384/512) is signed or cracked here -- with the standard library, so a
weak or short key is tried like any other word. Nothing is sent from this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["WEAK_SECRETS", "crack", "encode_hs", "mask_secret", "unsigned", "with_claims"]

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

# Secrets seen in tutorials, framework defaults, leaked configs and CTF APIs; lower-case
# and common spellings. Kept short on purpose: every word costs one HMAC per token.
WEAK_SECRETS: tuple[str, ...] = tuple(dict.fromkeys("""
secret secretkey secret_key secret-key mysecret my_secret mysecretkey my-secret-key topsecret supersecret
super_secret super-secret supersecretkey thisisasecret this_is_a_secret changeme change_me changeit
password password1 password123 passw0rd pass admin admin123 administrator root toor test test123 testing
default key jwt jwtsecret jwt_secret jwt-secret jwtkey jwt_key jwt-key jwt_secret_key jwtsecretkey
token tokensecret token_secret auth authsecret auth_secret authkey signingkey signing_key hmac hmacsecret
random randomkey random_secret qwerty qwerty123 123456 1234567 12345678 123456789 1234567890 111111 000000
abc123 abcdef letmein welcome iloveyou monkey dragon master hello hello123 hunter2 shadow sunshine
app appsecret app_secret application api apikey api_key apisecret api_secret server serverkey
development dev devsecret dev_secret prod production staging local localhost example sample demo
flask django rails express node nodejs spring laravel symfony secret123 secret1234 secret12345
keyboard keyboardcat keyboard_cat your-256-bit-secret your_jwt_secret yoursecret your-secret
your_secret_key your-secret-key mykey my_key s3cr3t s3cret sekret geheim shhh shhhhh
notsosecret not_so_secret insecure unsafe weak weaksecret guest user user123 login
nosecret none null undefined empty blank 1 12 123 1234 12345 a aa aaa x xx xxx
owasp
""".split()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json(obj: Any) -> str:
    return _b64(orjson.dumps(obj))


def encode_hs(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """A compact JWS signed with HMAC (``header['alg']``, default HS256)."""
    alg = str(header.get("alg", "HS256"))
    digest = _HASHES.get(alg, hashlib.sha256)
    signing = f"{_json(header)}.{_json(claims)}"
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return f"{signing}.{_b64(sig)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any], alg: str = "none") -> str:
    """``alg: none`` token with an empty signature."""
    return f"{_json({**header, 'alg': alg})}.{_json(claims)}."


def with_claims(token: str, claims: dict[str, Any]) -> str:
    """``token`` with its payload replaced and its *original* signature kept (tampering)."""
    head, _, rest = token.partition(".")
    sig = rest.rpartition(".")[2]
    return f"{head}.{_json(claims)}.{sig}"


def crack(token: str, words: Iterable[str] = WEAK_SECRETS) -> str | None:
    """The HMAC secret of ``token`` if it is one of ``words``; None otherwise (or not HMAC)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = orjson.loads(_b64d(parts[0]))
        sig = _b64d(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        return None
    digest = _HASHES.get(str(header.get("alg")) if isinstance(header, dict) else "")
    if digest is None:
        return None
    signing = f"{parts[0]}.{parts[1]}".encode()
    for word in words:
        if hmac.compare_digest(hmac.new(word.encode(), signing, digest).digest(), sig):
            return word
    return None


def mask_secret(secret: str) -> str:
    """Enough to recognise a cracked secret in the dictionary, not enough to use it."""
    shown = secret[:2] if len(secret) > 4 else secret[:1]
    return f"{shown}{'*' * max(len(secret) - len(shown), 1)} ({len(secret)} characters)"
