"""Admin keys and roles.

Rules:

* Keys are held as SHA-256 digests only (a key from ``${ENV}``/``file:`` is hashed at
  load and the text dropped); admin keys are long random strings, so a fast hash is the
  right one, as for API keys.
* A presented key is hashed and compared with *every* digest with
  ``hmac.compare_digest``: the time taken does not depend on which key matched or how
  much of it did.
* Roles: ``admin`` may read and change (acknowledge alerts, lift blocks); ``read_only``
  may read everything the API shows; ``metrics`` may read ``/metrics`` only;
  ``detokenize`` may only turn reversible PII tokens back into values
  (``POST /api/detokenize``). No other role may, not even ``admin``: seeing raw
  personal data is a separate duty from running the gateway, so it takes a key given
  for that purpose, and every use names that key in the audit trail.
* Failed attempts are counted per client address; past ``max_failures`` within
  ``window`` seconds that address is refused (429) without checking, until the window
  passes, so a key cannot be guessed online. The same :class:`WindowCounter` counts
  the detokenize endpoint's refused tokens and revealed values per key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cpragate.admin.config import AdminKey
from cpragate.core.clock import Clock, SystemClock

__all__ = ["AdminAuth", "AdminPrincipal", "Permission", "WindowCounter", "key_digest"]

Permission = Literal["read", "write", "metrics", "detokenize"]

_ALLOWED: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "write", "metrics"}),
    "read_only": frozenset({"read", "metrics"}),
    "metrics": frozenset({"metrics"}),
    "detokenize": frozenset({"detokenize"}),
}


def key_digest(key: str | bytes) -> bytes:
    return hashlib.sha256(key.encode("utf-8") if isinstance(key, str) else key).digest()


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """Who made an admin request: the key's name and its role."""

    name: str
    role: str

    def may(self, permission: Permission) -> bool:
        return permission in _ALLOWED.get(self.role, frozenset())


class WindowCounter:
    """Counts per key within a window that opens at the key's first count (bounded keys).

    ``reached(key)`` is true once ``limit`` is counted, until ``window`` seconds after
    the first count; then the key starts again from zero.

    The table holds at most ``max_keys`` keys. When it is full, entries whose window has
    passed are dropped (at most once a second, so a flood does not scan it per call); a
    key that still finds no room is counted in one shared *overflow* bucket, and every
    key outside the table reads that bucket's count. So a flood of addresses never turns
    the lock-out off: past the limit it locks out every untracked address together.
    """

    def __init__(self, clock: Clock, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.clock, self.limit, self.window, self.max_keys = clock, limit, window, max_keys
        self._counts: dict[str, tuple[float, int]] = {}
        self._overflow: tuple[float, int] | None = None
        self._swept = float("-inf")

    def count(self, key: str) -> int:
        now = self.clock.monotonic()
        f = self._counts.get(key)
        if f is None:
            o = self._overflow
            if o is None or now - o[0] > self.window:
                self._overflow = None
                return 0
            return o[1]
        if now - f[0] > self.window:
            del self._counts[key]
            return 0
        return f[1]

    def reached(self, key: str) -> bool:
        return self.count(key) >= self.limit

    def add(self, key: str, n: int = 1) -> None:
        now = self.clock.monotonic()
        if key not in self._counts and len(self._counts) >= self.max_keys:
            self._sweep(now)
            if len(self._counts) >= self.max_keys:
                since, c = self._overflow or (now, 0)
                self._overflow = (now, n) if now - since > self.window else (since, c + n)
                return
        since, c = self._counts.get(key, (now, 0))
        if now - since > self.window:
            since, c = now, 0
        self._counts[key] = (since, c + n)

    def _sweep(self, now: float) -> None:
        """Drop the entries whose window has passed (at most once a second)."""
        if now - self._swept < 1.0:
            return
        self._swept = now
        w = self.window
        for k in [k for k, (since, _) in self._counts.items() if now - since > w]:
            del self._counts[k]


class AdminAuth:
    """Checks presented admin keys (see the module docstring)."""

    def __init__(
        self,
        keys: Iterable[AdminKey],
        clock: Clock | None = None,
        max_failures: int = 20,
        window: float = 60.0,
    ) -> None:
        self._entries: list[tuple[bytes, AdminPrincipal]] = []
        for k in keys:
            if k.key is not None:
                digest = key_digest(k.key.get_secret_value())
            else:
                digest = bytes.fromhex(str(k.sha256))
            self._entries.append((digest, AdminPrincipal(str(k.name), str(k.role))))
        self.clock = clock or SystemClock()
        self.max_failures = max_failures
        self.window = window
        self._failures = WindowCounter(self.clock, max_failures, window)

    @staticmethod
    def presented(authorization: bytes | None) -> bytes | None:
        """The key in an ``Authorization: Bearer KEY`` header value, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not value.strip():
            return None
        return value.strip()

    def locked_out(self, client: str) -> bool:
        return self._failures.reached(client)

    def authenticate(self, key: bytes | None, client: str = "") -> AdminPrincipal | None:
        """The principal whose key this is, or None (a failure is counted for ``client``)."""
        if key is None:
            return None
        digest = key_digest(key)
        found: AdminPrincipal | None = None
        for d, p in self._entries:
            if hmac.compare_digest(d, digest):
                found = p
        if found is None:
            self._failures.add(client)
        return found
