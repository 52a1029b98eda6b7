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
import hashlib
import hmac
import re
import secrets

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


_KEYED: dict[bytes, hmac.HMAC] = {}


def key_digest(key: bytes, secret: bytes | None = None) -> bytes:
    """The raw HMAC-SHA256 of ``key`` (``hash_key`` is its hex).

    A copy of an HMAC object keyed once per secret, not the one-shot ``hmac.digest``: with
    OpenSSL 3 the one-shot call fetches the algorithm and builds a context every time and
    releases the GIL around it, which cost ~47 CPU-µs per request (and waits behind the
    audit writer thread) in the demo policy against ~1.5 µs for copy + update + digest
    (bench/instr.py, MainThread CPU).
    """
    k = secret or DEFAULT_HASH_KEY
    base = _KEYED.get(k)
    if base is None:
        if len(_KEYED) >= 16:  # secrets change only on reload; keep the last few
            _KEYED.clear()
        base = _KEYED[k] = hmac.new(k, digestmod=hashlib.sha256)
    h = base.copy()
    h.update(key)
    return h.digest()
