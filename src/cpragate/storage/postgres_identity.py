"""PostgreSQL storage for several gateway instances: consumers, API keys, counters, kv.

One autocommit connection per process (psycopg 3 serializes its use); a broken
connection is replaced on the next call, so the gateway recovers by itself when the
server returns. Driver errors are mapped to ``StorageError`` here, at the boundary,
and their text (which may hold the DSN) is never passed on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg

from cpragate.core.access import Consumer
from cpragate.errors import StorageError
from cpragate.storage.access import ApiKeyRecord, consumer_from_row, consumer_row, key_from_row, key_row

__all__ = ["PostgresStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cpragate_consumers (
    name TEXT PRIMARY KEY, purpose TEXT NOT NULL, scopes TEXT NOT NULL, roles TEXT NOT NULL,
    attributes TEXT NOT NULL, disabled BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE IF NOT EXISTS cpragate_api_keys (
    prefix TEXT PRIMARY KEY, key_hash TEXT NOT NULL, consumer TEXT NOT NULL, scopes TEXT,
    created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION, revoked DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS cpragate_counters (k TEXT PRIMARY KEY, v BIGINT NOT NULL, exp DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS cpragate_kv (k TEXT PRIMARY KEY, v BYTEA NOT NULL, exp DOUBLE PRECISION);
"""
_KEY_COLS = "prefix, key_hash, consumer, scopes, created, expires, revoked"
_CONSUMER_COLS = "name, purpose, scopes, roles, attributes, disabled"


class PostgresStore:
    """CounterStore and IdentityStore on PostgreSQL; ``kv`` is the KeyValueStore."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.kv = PostgresKV(self)
        self.identity = self

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        s = cls(dsn)
        await s._call(lambda c: c.execute(_SCHEMA))
        return s

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=3)
        return self._conn

    async def _call(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        if asyncio.current_task() is None:  # stepped outside a Task by server/eager.py
            return await asyncio.ensure_future(self._call(fn))
        try:
            return await fn(await self._connect())
        except (psycopg.Error, OSError) as e:
            raise StorageError(f"PostgreSQL operation failed ({type(e).__name__}).") from None

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async def op(c: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await c.execute(sql.encode(), params)
            return await cur.fetchall() if cur.description else []

        return await self._call(op)

    async def _rowcount(self, sql: str, params: tuple[Any, ...]) -> int:
        async def op(c: psycopg.AsyncConnection[Any]) -> int:
            cur = await c.execute(sql.encode(), params)
            return cur.rowcount

        return await self._call(op)

    # ------------------------------------------------------------------ counters

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now = time.time()
        exp = now + ttl if ttl is not None else None
        rows = await self._rows(
            "INSERT INTO cpragate_counters (k, v, exp) VALUES (%s, %s, %s) ON CONFLICT (k) DO UPDATE SET "
            "v = CASE WHEN cpragate_counters.exp IS NOT NULL AND cpragate_counters.exp <= %s "
            "THEN EXCLUDED.v ELSE cpragate_counters.v + EXCLUDED.v END, "
            "exp = CASE WHEN cpragate_counters.exp IS NOT NULL AND cpragate_counters.exp <= %s "
            "THEN EXCLUDED.exp ELSE cpragate_counters.exp END RETURNING v",
            (key, amount, exp, now, now),
        )
        return int(rows[0][0])

    async def get(self, key: str) -> int:
        rows = await self._rows(
            "SELECT v FROM cpragate_counters WHERE k=%s AND (exp IS NULL OR exp > %s)", (key, time.time())
        )
        return int(rows[0][0]) if rows else 0

    # ------------------------------------------------------------------ identity

    async def get_key(self, prefix: str) -> ApiKeyRecord | None:
        rows = await self._rows(f"SELECT {_KEY_COLS} FROM cpragate_api_keys WHERE prefix=%s", (prefix,))  # noqa: S608
        return key_from_row(rows[0]) if rows else None

    async def put_key(self, record: ApiKeyRecord) -> None:
        await self._rows(
            f"INSERT INTO cpragate_api_keys ({_KEY_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s) "  # noqa: S608
            "ON CONFLICT (prefix) DO UPDATE SET key_hash=EXCLUDED.key_hash, consumer=EXCLUDED.consumer, "
            "scopes=EXCLUDED.scopes, created=EXCLUDED.created, expires=EXCLUDED.expires, revoked=EXCLUDED.revoked",
            key_row(record),
        )

    async def list_keys(self, consumer: str | None = None) -> list[ApiKeyRecord]:
        q = f"SELECT {_KEY_COLS} FROM cpragate_api_keys"  # noqa: S608
        rows = (
            await self._rows(q + " ORDER BY created, prefix")
            if consumer is None
            else await self._rows(q + " WHERE consumer=%s ORDER BY created, prefix", (consumer,))
        )
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, prefix: str, at: float) -> bool:
        n = await self._rowcount(
            "UPDATE cpragate_api_keys SET revoked = LEAST(COALESCE(revoked, %s), %s) WHERE prefix=%s",
            (at, at, prefix),
        )
        return n > 0

    async def get_consumer(self, name: str) -> Consumer | None:
        rows = await self._rows(f"SELECT {_CONSUMER_COLS} FROM cpragate_consumers WHERE name=%s", (name,))  # noqa: S608
        return consumer_from_row(rows[0]) if rows else None

    async def put_consumer(self, consumer: Consumer) -> None:
        await self._rows(
            f"INSERT INTO cpragate_consumers ({_CONSUMER_COLS}) VALUES (%s,%s,%s,%s,%s,%s) "  # noqa: S608
            "ON CONFLICT (name) DO UPDATE SET purpose=EXCLUDED.purpose, scopes=EXCLUDED.scopes, "
            "roles=EXCLUDED.roles, attributes=EXCLUDED.attributes, disabled=EXCLUDED.disabled",
            consumer_row(consumer),
        )

    async def list_consumers(self) -> list[Consumer]:
        rows = await self._rows(f"SELECT {_CONSUMER_COLS} FROM cpragate_consumers ORDER BY name")  # noqa: S608
        return [consumer_from_row(r) for r in rows]

    async def aclose(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except (psycopg.Error, OSError):
                pass
            self._conn = None


class PostgresKV:
    """KeyValueStore on the PostgresStore's connection."""

    def __init__(self, store: PostgresStore) -> None:
        self._s = store

    async def get(self, key: str) -> bytes | None:
        rows = await self._s._rows("SELECT v FROM cpragate_kv WHERE k=%s AND (exp IS NULL OR exp > %s)", (key, time.time()))
        return bytes(rows[0][0]) if rows else None

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        exp = time.time() + ttl if ttl is not None else None
        await self._s._rows(
            "INSERT INTO cpragate_kv (k, v, exp) VALUES (%s,%s,%s) ON CONFLICT (k) DO UPDATE SET v=EXCLUDED.v, exp=EXCLUDED.exp",
            (key, value, exp),
        )

    async def delete(self, key: str) -> bool:
        return await self._s._rowcount("DELETE FROM cpragate_kv WHERE k=%s", (key,)) > 0
