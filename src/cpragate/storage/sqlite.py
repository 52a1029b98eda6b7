"""SQLite storage (the embedded default): WAL mode, one writer thread.

sqlite3 blocks, so every call runs on a single dedicated thread; the event loop only
awaits the result. Expiry uses wall-clock time because the file outlives the process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from cpragate.errors import StorageError

__all__ = ["SqliteKV", "SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (k TEXT PRIMARY KEY, v INTEGER NOT NULL, exp REAL);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, exp REAL);
"""


class SqliteStore:
    """CounterStore on SQLite; ``kv`` is the KeyValueStore on the same file."""

    def __init__(self, db: sqlite3.Connection, pool: ThreadPoolExecutor, path: str) -> None:
        self._db = db
        self._pool = pool
        self.path = path
        self.kv = SqliteKV(self)

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cpragate-sqlite")
        loop = asyncio.get_running_loop()

        def _open() -> sqlite3.Connection:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db

        try:
            db = await loop.run_in_executor(pool, _open)
        except sqlite3.Error as e:
            pool.shutdown(wait=False)
            raise StorageError(f"SQLite database {path} cannot be opened ({type(e).__name__}).") from None
        return cls(db, pool, path)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()

        def call() -> T:
            try:
                return fn(self._db)
            except sqlite3.Error as e:
                raise StorageError(f"SQLite operation failed ({type(e).__name__}).") from None

        return await loop.run_in_executor(self._pool, call)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        def op(db: sqlite3.Connection) -> int:
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT v, exp FROM counters WHERE k=?", (key,)).fetchone()
                if row is None or (row[1] is not None and row[1] <= now):
                    v, exp = amount, (now + ttl if ttl is not None else None)
                else:
                    v, exp = row[0] + amount, row[1]
                db.execute("INSERT OR REPLACE INTO counters (k, v, exp) VALUES (?, ?, ?)", (key, v, exp))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(v)

        return await self.run(op)

    async def get(self, key: str) -> int:
        def op(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT v, exp FROM counters WHERE k=?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] <= time.time()):
                return 0
            return int(row[0])

        return await self.run(op)

    async def aclose(self) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.close()

        try:
            await self.run(op)
        finally:
            self._pool.shutdown(wait=True)


class SqliteKV:
    """KeyValueStore on the SqliteStore's file."""

    def __init__(self, store: SqliteStore) -> None:
        self._s = store

    async def get(self, key: str) -> bytes | None:
        def op(db: sqlite3.Connection) -> bytes | None:
            row = db.execute("SELECT v, exp FROM kv WHERE k=?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] <= time.time()):
                return None
            return bytes(row[0])

        return await self._s.run(op)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        def op(db: sqlite3.Connection) -> None:
            exp = time.time() + ttl if ttl is not None else None
            db.execute("INSERT OR REPLACE INTO kv (k, v, exp) VALUES (?, ?, ?)", (key, value, exp))

        await self._s.run(op)

    async def delete(self, key: str) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM kv WHERE k=?", (key,)).rowcount > 0

        return await self._s.run(op)


