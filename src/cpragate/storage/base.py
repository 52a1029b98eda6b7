"""Small storage Protocols, one contract test suite for every backend (tests/contract).

Backends map their driver's exceptions to ``StorageError`` at their boundary, so a
filter's ``on_error`` policy sees one exception type whatever the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cpragate.errors import StorageError

if TYPE_CHECKING:
    from cpragate.storage.access import IdentityStore, Limiter, ServedIds
    from cpragate.storage.alerts import AlertStore, BlockStore
    from cpragate.storage.fetch import HttpFetcher
    from cpragate.storage.windows import WindowCounts

__all__ = ["AuditLog", "CounterStore", "KeyValueStore", "Stores", "open_stores"]


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


@runtime_checkable
class AuditLog(Protocol):
    """The audit trail as the audit filter sees it: append-only, never waits on a database.

    Records are the compact lists described in ``cpragate.audit.events``; the
    implementation (storage/audit_writer.py) spools them and ships them in the background.
    """

    instance_id: str

    def lookup(self, value: str) -> str:
        """The keyed lookup (HMAC) standing for a subject id or path value; never the value."""
        ...

    async def begin(self, record: list[Any]) -> int | None:
        """Spool a begin record; its position, or None when the spool is full (answer 503)."""
        ...

    async def complete(self, record: list[Any]) -> bool:
        """Spool a completion; False if it could not be (logged by the implementation)."""
        ...

    async def event(self, record: list[Any], reserve: bool = True) -> bool:
        """Spool a whole event (an exchange refused before its begin); False if it could not be.

        ``reserve=False`` (events of the admin API): refused once the spool holds its
        ``max_bytes``, like a begin; the reserve is kept for the data plane's completions.
        """
        ...


@dataclass
class Stores:
    """The bundle handed to filters through FilterContext."""

    counters: CounterStore
    kv: KeyValueStore
    url: str
    _closer: object = None
    identity: IdentityStore | None = None
    """Consumers and API keys (memory, SQLite or PostgreSQL); None with a redis:// url."""
    limiter: Limiter | None = None
    """A limiter shared by processes (Redis); None: filters keep an in-process one."""
    served: ServedIds | None = None
    """Served object ids shared by processes (Redis); None: filters keep them in-process."""
    fetcher: HttpFetcher | None = None
    """Fetches documents the filters need (JWKS)."""
    audit: AuditLog | None = None
    """The audit trail (spool + writer) when ``filters.audit`` is enabled (see attach_audit)."""
    inventory: Any = None
    """This process's observed endpoints (filters/inventory), kept here so a reload keeps them."""
    metrics: Any = None
    """This process's Prometheus collectors (admin/metrics), kept here so a reload keeps them."""
    alerts: AlertStore | None = None
    """Alerts raised by the detectors (memory, or Redis when ``storage.redis`` is set)."""
    blocks: BlockStore | None = None
    """Blocks and throttles the rate limiters enforce (memory, or Redis shared by instances)."""
    windows: WindowCounts | None = None
    """Detector windows shared by instances (Redis); None: each instance counts alone."""
    carry: dict[str, Any] = field(default_factory=dict)
    """In-process state a filter hands to its successor across a reload (by filter name):
    the anomaly filter's learned baselines."""
    _more: list[object] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        """Whether rate limits and served ids are shared across processes."""
        return self.limiter is not None

    async def attach_audit(self, cfg: Any, state_dir: Path) -> None:
        """Open the audit spool and start its writer when ``cfg`` (``filters.audit``) is enabled."""
        if cfg is None or not getattr(cfg, "enabled", False) or self.audit is not None:
            return
        from cpragate.storage.audit_writer import open_audit

        self.audit = open_audit(cfg, state_dir)

    async def close(self) -> None:
        audit, self.audit = self.audit, None
        if audit is not None and hasattr(audit, "aclose"):
            await audit.aclose()  # first: ships what is spooled while the rest is still open
        for closer in (self._closer, *self._more):
            if closer is not None and hasattr(closer, "aclose"):
                await closer.aclose()


async def open_stores(url: str, redis_url: str | None = None) -> Stores:
    """Open the backend a storage URL names (``memory://``, ``sqlite:///path``,
    ``postgresql://…``, ``redis://…``); ``redis_url`` adds Redis for the state several
    processes must share (counters, rate limits, served ids)."""
    from cpragate.storage.fetch import HttpFetcher

    stores = await _open_main(url)
    stores.fetcher = HttpFetcher()
    from cpragate.storage.alerts import MemoryAlerts, MemoryBlocks

    if stores.alerts is None:
        stores.alerts = MemoryAlerts()
    if stores.blocks is None:
        stores.blocks = MemoryBlocks()
    if redis_url is not None:
        from cpragate.storage.redis import RedisStore

        try:
            r = await RedisStore.open(redis_url)
        except BaseException:
            await stores.close()
            raise
        stores.counters, stores.kv, stores.limiter, stores.served = r, r.kv, r.limiter, r.served
        stores.alerts, stores.blocks, stores.windows = r.alerts, r.blocks, r.windows
        stores._more.append(r)
    return stores


async def _open_main(url: str) -> Stores:
    if url.startswith("memory://"):
        from cpragate.storage.access import MemoryIdentityStore
        from cpragate.storage.memory import MemoryStore

        m = MemoryStore()
        return Stores(counters=m, kv=m.kv, url=url, identity=MemoryIdentityStore())
    if url.startswith("sqlite:///"):
        from cpragate.storage.sqlite import SqliteStore
        from cpragate.storage.sqlite_identity import SqliteIdentityStore

        s = await SqliteStore.open(url[len("sqlite:///") :])
        try:
            ident = await SqliteIdentityStore.open(s)
        except BaseException:
            await s.aclose()
            raise
        return Stores(counters=s, kv=s.kv, url=url, _closer=s, identity=ident)
    if url.startswith(("postgresql://", "postgres://")):
        from cpragate.storage.postgres_identity import PostgresStore

        p = await PostgresStore.open(url)
        return Stores(counters=p, kv=p.kv, url=url, _closer=p, identity=p.identity)
    if url.startswith(("redis://", "rediss://")):
        from cpragate.storage.redis import RedisStore

        r = await RedisStore.open(url)
        return Stores(
            counters=r, kv=r.kv, url=url, _closer=r, limiter=r.limiter, served=r.served, alerts=r.alerts, blocks=r.blocks,
            windows=r.windows,
        )
    raise StorageError(
        f"storage backend for {url.split(':', 1)[0]}:// is not available in this version.",
        fix="Use memory://, sqlite:///path, postgresql://host/db or redis://host:port/db.",
    )
