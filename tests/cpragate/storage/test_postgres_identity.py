"""PostgreSQL store specifics that need no server; the behaviour runs in tests/contract."""

import asyncio

import pytest

from cpragate.errors import StorageError
from cpragate.storage.postgres_identity import PostgresStore


def test_errors_never_carry_the_dsn() -> None:
    s = PostgresStore("postgresql://user:hunter2@127.0.0.1:1/nodb?connect_timeout=1")
    with pytest.raises(StorageError) as e:
        asyncio.run(s.get_key("x"))
    assert "hunter2" not in str(e.value) and e.value.code == "CPG-STO-001"
    asyncio.run(s.aclose())
