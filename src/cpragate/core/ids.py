"""Request ids: injected, unique per instance, cheap on the hot path."""

from __future__ import annotations

import re
import secrets
from typing import Protocol

__all__ = ["CounterIds", "IdSource", "accept_request_id"]

# What we accept from a client or proxy as X-Request-Id: short, log-safe tokens only,
# so an id can never smuggle a newline or markup into logs and the audit trail.
_ACCEPTABLE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


class IdSource(Protocol):
    def next_id(self) -> str: ...


class CounterIds:
    """``<random instance prefix>-<hex counter>``: unique per process, no syscall per id."""

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = (prefix if prefix is not None else secrets.token_hex(6)) + "-"
        self._n = 0

    def next_id(self) -> str:
        # Not an f-string with ":x": that formats through int.__format__'s spec parser,
        # ~4,900 instructions per id compiled (callgrind) against ~1,000 for this.
        self._n += 1
        return self._prefix + hex(self._n)[2:]


def accept_request_id(value: bytes | None) -> str | None:
    """The client's request id if it is a safe token, else None (a new one is made)."""
    if value is None or _ACCEPTABLE.fullmatch(value) is None:
        return None
    return value.decode("ascii")
