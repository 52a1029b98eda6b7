"""HMAC-SHA256 under a few long-lived keys, cheaply, on the hot path.

``hmac.digest(key, msg, "sha256")`` looks like the fast one-shot, but with OpenSSL 3 it
fetches the algorithm and builds a fresh context on every call and releases the GIL
around it; beside a busy background thread (the audit writer) the event loop then waits
to get the GIL back. Measured under the demo policy (bench/instr.py, callgrind): ~47
CPU-µs per API key check against ~1.5 µs for copying a context keyed once and
updating it, which never releases the GIL for short messages.

The keyed contexts are two SHA-256 states, the key's inner and outer pads already
hashed (RFC 2104: HMAC = H(K ^ opad || H(K ^ ipad || msg))): copying and finishing two
hash objects costs ~12k instructions per call under callgrind against ~18k for copying an
``hmac.HMAC`` (a Python-level object around OpenSSL's HMAC context) and calling its
Python methods (bench/AUDIT_RESULTS.md, session 10). hashlib keeps the GIL for messages
under 2 KiB, as before.

Only for keys that live as long as the config (the API key hash secret, the audit master
key): the cache keeps at most a handful of them.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["hmac_sha256"]

_MAX_KEYS = 16
_keyed: dict[bytes, tuple[Any, Any]] = {}
_IPAD = bytes([x ^ 0x36 for x in range(256)])
_OPAD = bytes([x ^ 0x5C for x in range(256)])


def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states with ``key``'s inner and outer pads hashed (a key beyond the block
    size is hashed first, as HMAC does)."""
    k = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\x00")
    return hashlib.sha256(k.translate(_IPAD)), hashlib.sha256(k.translate(_OPAD))


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 of ``msg`` under ``key`` (the same bytes as ``hmac.digest``)."""
    pads = _keyed.get(key)
    if pads is None:
        if len(_keyed) >= _MAX_KEYS:  # keys change only on reload: start over
            _keyed.clear()
        pads = _keyed[key] = _pads(key)
    inner = pads[0].copy()
    inner.update(msg)
    outer = pads[1].copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest
