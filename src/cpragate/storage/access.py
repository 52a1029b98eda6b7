"""Storage Protocols for identity and access state, and the in-memory identity store.

* ``IdentityStore`` — consumers and API key records (SQLite by default, PostgreSQL when
  several gateway instances share them, memory in tests).
* ``Limiter`` — an atomic GCRA limiter shared by processes (Redis); the rate-limit
  filter keeps an in-process one when no shared limiter is configured.
* ``ServedIds`` — per-consumer bounded sets of object ids the gateway served (Redis);
  the authz filter keeps an in-process one otherwise.

API keys are stored as records keyed by their public prefix; the secret part is never
stored, only a keyed hash of the whole key (see ``filters/authn/apikeys.py`` for why a
fast hash is right for high-entropy keys).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from cpragate.core.access import Consumer

__all__ = [
    "ApiKeyRecord",
    "IdentityStore",
    "LimitResult",
    "Limiter",
    "MemoryIdentityStore",
    "ServedIds",
    "consumer_from_row",
    "consumer_row",
    "key_from_row",
    "key_row",
]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key: its public prefix, the keyed hash of the whole key, and its lifetime."""

    prefix: str
    key_hash: str
    consumer: str
    scopes: frozenset[str] | None = None
    """Narrows the consumer's scopes for this key; None: the consumer's scopes."""
    created: float = 0.0
    expires: float | None = None
    """Wall-clock epoch seconds after which the key is refused; None: never."""
    revoked: float | None = None
    """Epoch from which the key is refused (revoke: now; rotate: now + overlap)."""

    def valid_at(self, now: float) -> bool:
        if self.expires is not None and now >= self.expires:
            return False
        return self.revoked is None or now < self.revoked

    def state_at(self, now: float) -> str:
        if self.revoked is not None and now >= self.revoked:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "rotating" if self.revoked is not None else "active"


@runtime_checkable
class IdentityStore(Protocol):
    """Consumers and API keys; every backend passes tests/contract/test_storage.py."""

    async def get_key(self, prefix: str) -> ApiKeyRecord | None: ...

    async def put_key(self, record: ApiKeyRecord) -> None:
        """Insert or replace the record with this prefix."""
        ...

    async def list_keys(self, consumer: str | None = None) -> list[ApiKeyRecord]:
        """Every key (of ``consumer``), oldest first."""
        ...

    async def revoke_key(self, prefix: str, at: float) -> bool:
        """Refuse the key from ``at`` on (never later than an earlier revocation); False if unknown."""
        ...

    async def get_consumer(self, name: str) -> Consumer | None: ...

    async def put_consumer(self, consumer: Consumer) -> None: ...

    async def list_consumers(self) -> list[Consumer]: ...


@dataclass(frozen=True, slots=True)
class LimitResult:
    """A GCRA decision: allowed or not, what is left, and when to come back."""

    allowed: bool
    remaining: int
    retry_after: float
    """Seconds until one more request would be allowed (0 when allowed)."""
    reset_after: float
    """Seconds until the bucket is full again."""


@runtime_checkable
class Limiter(Protocol):
    """Generic cell rate algorithm over shared state: one atomic step per request."""

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        """Take ``cost`` from bucket ``key`` that refills one unit every ``interval`` seconds
        and holds ``capacity`` units."""
        ...


@runtime_checkable
class ServedIds(Protocol):
    """Per-consumer, bounded, expiring sets of object ids the gateway has served."""

    async def add(self, key: str, ids: list[str], max_ids: int, ttl: float) -> None: ...

    async def contains(self, key: str, object_id: str) -> bool: ...


class MemoryIdentityStore:
    """IdentityStore in dicts (tests, memory:// storage)."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKeyRecord] = {}
        self._consumers: dict[str, Consumer] = {}

    async def get_key(self, prefix: str) -> ApiKeyRecord | None:
        return self._keys.get(prefix)

    async def put_key(self, record: ApiKeyRecord) -> None:
        self._keys[record.prefix] = record

    async def list_keys(self, consumer: str | None = None) -> list[ApiKeyRecord]:
        out = [r for r in self._keys.values() if consumer is None or r.consumer == consumer]
        return sorted(out, key=lambda r: (r.created, r.prefix))

    async def revoke_key(self, prefix: str, at: float) -> bool:
        r = self._keys.get(prefix)
        if r is None:
            return False
        if r.revoked is None or at < r.revoked:
            self._keys[prefix] = replace(r, revoked=at)
        return True

    async def get_consumer(self, name: str) -> Consumer | None:
        return self._consumers.get(name)

    async def put_consumer(self, consumer: Consumer) -> None:
        self._consumers[consumer.name] = consumer

    async def list_consumers(self) -> list[Consumer]:
        return [self._consumers[n] for n in sorted(self._consumers)]


def consumer_row(c: Consumer) -> tuple[str, str, str, str, str, bool]:
    """A consumer as SQL column values (JSON for the collections)."""
    import orjson

    return (
        c.name,
        c.purpose,
        orjson.dumps(sorted(c.scopes)).decode(),
        orjson.dumps(sorted(c.roles)).decode(),
        orjson.dumps({k: list(v) for k, v in sorted(c.attributes.items())}).decode(),
        c.disabled,
    )


def consumer_from_row(row: tuple[object, ...]) -> Consumer:
    from types import MappingProxyType

    import orjson

    name, purpose, scopes, roles, attrs, disabled = row
    a = orjson.loads(str(attrs))
    return Consumer(
        name=str(name),
        purpose=purpose,  # type: ignore[arg-type]  # written by consumer_row from a Purpose
        scopes=frozenset(orjson.loads(str(scopes))),
        roles=frozenset(orjson.loads(str(roles))),
        attributes=MappingProxyType({str(k): tuple(str(x) for x in v) for k, v in a.items()}),
        disabled=bool(disabled),
    )


def key_row(r: ApiKeyRecord) -> tuple[str, str, str, str | None, float, float | None, float | None]:
    import orjson

    scopes = None if r.scopes is None else orjson.dumps(sorted(r.scopes)).decode()
    return (r.prefix, r.key_hash, r.consumer, scopes, r.created, r.expires, r.revoked)


def key_from_row(row: tuple[object, ...]) -> ApiKeyRecord:
    import orjson

    prefix, key_hash, consumer, scopes, created, expires, revoked = row
    return ApiKeyRecord(
        prefix=str(prefix),
        key_hash=str(key_hash),
        consumer=str(consumer),
        scopes=None if scopes is None else frozenset(orjson.loads(str(scopes))),
        created=float(created),  # type: ignore[arg-type]
        expires=None if expires is None else float(expires),  # type: ignore[arg-type]
        revoked=None if revoked is None else float(revoked),  # type: ignore[arg-type]
    )
