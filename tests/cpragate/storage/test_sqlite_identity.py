"""SQLite identity store specifics; the shared behaviour is in tests/contract."""

import asyncio
import sqlite3
from pathlib import Path

from cpragate.storage import open_stores
from cpragate.storage.access import ApiKeyRecord


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    async def t() -> None:
        s = await open_stores(f"sqlite:///{tmp_path}/s.db")
        assert s.identity is not None
        await s.identity.put_key(ApiKeyRecord("cpg_abcd1234", "f" * 64, "app"))
        await s.close()

    asyncio.run(t())
    db = sqlite3.connect(tmp_path / "s.db")
    cols = [r[1] for r in db.execute("PRAGMA table_info(api_keys)")]
    assert cols == ["prefix", "key_hash", "consumer", "scopes", "created", "expires", "revoked"]
    db.close()
