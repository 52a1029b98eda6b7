"""Small storage Protocols, one contract test suite for every backend (tests/contract).

Backends map their driver's exceptions to ``StorageError`` at their boundary, so a
filter's ``on_error`` policy sees one exception type whatever the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cpragate.errors import StorageError

__all__ = ["CounterStore", "KeyValueStore", "Stores", "open_stores"]


@runtime_checkable
class CounterStore(Protocol):
    """Integer counters with an optional time to live (rate limits, detectors)."""

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl`` (seconds) is set when the key is created."""
        ...

    async def get(self, key: str) -> int:
        """The value, 0 if absent or expired."""
        ...


@runtime_checkable
class KeyValueStore(Protocol):
    """Opaque bytes by key, with an optional time to live."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        ...


@dataclass
class Stores:
    """The bundle handed to filters through FilterContext."""

    counters: CounterStore
    kv: KeyValueStore
    url: str
    _closer: object = None

    async def close(self) -> None:
        closer = self._closer
        if closer is not None and hasattr(closer, "aclose"):
            await closer.aclose()


async def open_stores(url: str) -> Stores:
    """Open the backend a storage URL names (``memory://``, ``sqlite:///path``)."""
    if url.startswith("memory://"):
        from cpragate.storage.memory import MemoryStore

        m = MemoryStore()
        return Stores(counters=m, kv=m.kv, url=url)
    if url.startswith("sqlite:///"):
        from cpragate.storage.sqlite import SqliteStore

        s = await SqliteStore.open(url[len("sqlite:///") :])
        return Stores(counters=s, kv=s.kv, url=url, _closer=s)
    raise StorageError(
        f"storage backend for {url.split(':', 1)[0]}:// is not available in this version.",
        fix="Use memory:// or sqlite:///path (Redis and PostgreSQL arrive with the features that need them).",
    )
