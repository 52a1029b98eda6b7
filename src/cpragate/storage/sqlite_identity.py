"""Consumers and API keys in the SQLite file of the default storage (one node)."""

from __future__ import annotations

import sqlite3

from cpragate.core.access import Consumer
from cpragate.storage.access import ApiKeyRecord, consumer_from_row, consumer_row, key_from_row, key_row
from cpragate.storage.sqlite import SqliteStore

__all__ = ["SqliteIdentityStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS consumers (
    name TEXT PRIMARY KEY, purpose TEXT NOT NULL, scopes TEXT NOT NULL, roles TEXT NOT NULL,
    attributes TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS api_keys (
    prefix TEXT PRIMARY KEY, key_hash TEXT NOT NULL, consumer TEXT NOT NULL, scopes TEXT,
    created REAL NOT NULL, expires REAL, revoked REAL);
"""
_KEY_COLS = "prefix, key_hash, consumer, scopes, created, expires, revoked"
_CONSUMER_COLS = "name, purpose, scopes, roles, attributes, disabled"


class SqliteIdentityStore:
    """IdentityStore on a SqliteStore's connection and thread."""

    def __init__(self, store: SqliteStore) -> None:
        self._s = store

    @classmethod
    async def open(cls, store: SqliteStore) -> SqliteIdentityStore:
        def op(db: sqlite3.Connection) -> None:
            db.executescript(_SCHEMA)

        await store.run(op)
        return cls(store)

    async def get_key(self, prefix: str) -> ApiKeyRecord | None:
        def op(db: sqlite3.Connection) -> ApiKeyRecord | None:
            row = db.execute(f"SELECT {_KEY_COLS} FROM api_keys WHERE prefix=?", (prefix,)).fetchone()  # noqa: S608
            return None if row is None else key_from_row(row)

        return await self._s.run(op)

    async def put_key(self, record: ApiKeyRecord) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(f"INSERT OR REPLACE INTO api_keys ({_KEY_COLS}) VALUES (?,?,?,?,?,?,?)", key_row(record))  # noqa: S608

        await self._s.run(op)

    async def list_keys(self, consumer: str | None = None) -> list[ApiKeyRecord]:
        def op(db: sqlite3.Connection) -> list[ApiKeyRecord]:
            q = f"SELECT {_KEY_COLS} FROM api_keys"  # noqa: S608
            rows = (
                db.execute(q + " ORDER BY created, prefix").fetchall()
                if consumer is None
                else db.execute(q + " WHERE consumer=? ORDER BY created, prefix", (consumer,)).fetchall()
            )
            return [key_from_row(r) for r in rows]

        return await self._s.run(op)

    async def revoke_key(self, prefix: str, at: float) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE api_keys SET revoked = CASE WHEN revoked IS NULL OR revoked > ? THEN ? ELSE revoked END "
                "WHERE prefix=?",
                (at, at, prefix),
            )
            return cur.rowcount > 0

        return await self._s.run(op)

    async def get_consumer(self, name: str) -> Consumer | None:
        def op(db: sqlite3.Connection) -> Consumer | None:
            row = db.execute(f"SELECT {_CONSUMER_COLS} FROM consumers WHERE name=?", (name,)).fetchone()  # noqa: S608
            return None if row is None else consumer_from_row(row)

        return await self._s.run(op)

    async def put_consumer(self, consumer: Consumer) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT OR REPLACE INTO consumers ({_CONSUMER_COLS}) VALUES (?,?,?,?,?,?)",  # noqa: S608
                consumer_row(consumer),
            )

        await self._s.run(op)

    async def list_consumers(self) -> list[Consumer]:
        def op(db: sqlite3.Connection) -> list[Consumer]:
            rows = db.execute(f"SELECT {_CONSUMER_COLS} FROM consumers ORDER BY name").fetchall()  # noqa: S608
            return [consumer_from_row(r) for r in rows]

        return await self._s.run(op)
