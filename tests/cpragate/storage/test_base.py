"""The storage Protocols are exercised by tests/contract/test_storage.py for every backend."""

from cpragate.storage.base import Stores


def test_stores_close_without_closer() -> None:
    import asyncio

    from cpragate.storage.memory import MemoryStore

    m = MemoryStore()
    asyncio.run(Stores(counters=m, kv=m.kv, url="memory://").close())
