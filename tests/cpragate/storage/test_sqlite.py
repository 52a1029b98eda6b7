"""SqliteStore behaviour is covered by the shared contract (tests/contract/test_storage.py)."""

import asyncio
from pathlib import Path

from cpragate.storage.sqlite import SqliteStore


def test_wal_mode(tmp_path: Path) -> None:
    async def t() -> str:
        s = await SqliteStore.open(str(tmp_path / "a.db"))
        try:
            return str(await s.run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0]))
        finally:
            await s.aclose()

    assert asyncio.run(t()) == "wal"
