"""API key format, generation and hashing (pure; used by the filter and `cpragate keys`).

A key is ``cpg_<prefix>_<secret>``: 8 random base32 characters of public prefix (40
bits; it names the key in logs, lists and the store) and 32 random bytes of secret
(256 bits, base64url). Only ``HMAC-SHA256(hash_secret, key)`` is stored.

Why a fast keyed hash and not bcrypt/argon2: slow hashes protect *low-entropy* secrets
(passwords) from offline guessing. A 256-bit random key cannot be guessed from its hash
at any hash speed, so a slow hash would only add tens of milliseconds to every request.
The HMAC key (``api_keys.hash_secret``) adds that a copied key table alone cannot even
confirm a candidate key. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import re
import secrets

from cpragate.core.keyed import hmac_sha256

__all__ = ["DEFAULT_HASH_KEY", "KEY_RE", "generate_key", "hash_key", "key_digest", "prefix_of"]

DEFAULT_HASH_KEY = b"cpragate-api-key-v1"
"""Domain separation only, when no ``hash_secret`` is configured."""

KEY_RE = re.compile(rb"^(cpg_[a-z2-7]{8})_[A-Za-z0-9_-]{43}$")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def generate_key() -> tuple[str, str]:
    """A new key and its public prefix."""
    prefix = "cpg_" + "".join(secrets.choice(_B32) for _ in range(8))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return f"{prefix}_{secret}", prefix


def prefix_of(key: bytes) -> str | None:
    """The public prefix of a well-formed key, else None (malformed keys are never looked up)."""
    m = KEY_RE.match(key)
    return m.group(1).decode("ascii") if m else None


def hash_key(key: bytes, secret: bytes | None = None) -> str:
    return key_digest(key, secret).hex()


def key_digest(key: bytes, secret: bytes | None = None) -> bytes:
    """The raw HMAC-SHA256 of ``key`` (``hash_key`` is its hex); see core.keyed for why not hmac.digest."""
    return hmac_sha256(secret or DEFAULT_HASH_KEY, key)
