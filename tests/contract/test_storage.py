"""One contract for every storage backend (STYLE §7.7). Memory and SQLite always run;
Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, db `test`) run against the real
servers — skipped when absent on a laptop, a failure when CI=true."""

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cpragate.core.access import Consumer
from cpragate.core.clock import FakeClock, SystemClock
from cpragate.filters.authz.served import LocalServedIds
from cpragate.filters.ratelimit.local import LocalLimiter
from cpragate.storage import CounterStore, KeyValueStore, Stores, open_stores
from cpragate.storage.access import ApiKeyRecord, IdentityStore, Limiter, ServedIds
from cpragate.storage.memory import MemoryStore

REDIS = ("127.0.0.1", 6379)
POSTGRES = ("127.0.0.1", 5432)


def require_service(addr: tuple[str, int], what: str) -> None:
    """Skip on a laptop without the server; with CI=true a missing server fails the run."""
    try:
        with socket.create_connection(addr, timeout=1):
            return
    except OSError:
        msg = f"{what} is not answering on {addr[0]}:{addr[1]}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " and CI=true: services are required, never skipped")
        pytest.skip(msg)


def redis_url() -> str:
    require_service(REDIS, "Redis")
    return f"redis://{REDIS[0]}:{REDIS[1]}/0?prefix=test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema in the shared `test` database, dropped afterwards."""
    require_service(POSTGRES, "PostgreSQL")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with(url: str, fn: Callable[[Stores], Awaitable[None]]) -> None:
    s = await open_stores(url)
    try:
        await fn(s)
    finally:
        await s.close()


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    if request.param == "redis":
        return redis_url()
    return str(request.getfixturevalue("pg_url"))


def test_protocols_satisfied(url: str) -> None:
    async def t(s: Stores) -> None:
        assert isinstance(s.counters, CounterStore) and isinstance(s.kv, KeyValueStore)

    run(_with(url, t))


def test_counter_incr_get(url: str) -> None:
    async def t(s: Stores) -> None:
        assert await s.counters.get("k") == 0
        assert await s.counters.incr("k") == 1
        assert await s.counters.incr("k", 5) == 6
        assert await s.counters.get("k") == 6
        assert await s.counters.incr("other", 2, ttl=60) == 2

    run(_with(url, t))


def test_counter_ttl_expires(url: str) -> None:
    async def t(s: Stores) -> None:
        await s.counters.incr("t", 3, ttl=0.05)
        await asyncio.sleep(0.1)
        assert await s.counters.get("t") == 0
        assert await s.counters.incr("t", 1, ttl=10) == 1

    run(_with(url, t))


def test_kv(url: str) -> None:
    async def t(s: Stores) -> None:
        assert await s.kv.get("a") is None
        await s.kv.set("a", b"\x00bytes")
        assert await s.kv.get("a") == b"\x00bytes"
        await s.kv.set("a", b"v2", ttl=0.05)
        assert await s.kv.get("a") == b"v2"
        await asyncio.sleep(0.1)
        assert await s.kv.get("a") is None
        await s.kv.set("b", b"1")
        assert await s.kv.delete("b") is True
        assert await s.kv.delete("b") is False

    run(_with(url, t))


def test_concurrent_increments_are_atomic(url: str) -> None:
    async def t(s: Stores) -> None:
        await asyncio.gather(*(s.counters.incr("c") for _ in range(200)))
        assert await s.counters.get("c") == 200

    run(_with(url, t))


def test_sqlite_persists_across_opens(tmp_path: Path) -> None:
    u = f"sqlite:///{tmp_path}/p.db"

    async def t1(s: Stores) -> None:
        await s.counters.incr("p", 7)
        await s.kv.set("k", b"v")

    async def t2(s: Stores) -> None:
        assert await s.counters.get("p") == 7 and await s.kv.get("k") == b"v"

    run(_with(u, t1))
    run(_with(u, t2))


def test_memory_store_fake_clock_and_bounds() -> None:
    async def t() -> None:
        c = FakeClock()
        m = MemoryStore(clock=c, max_keys=2)
        await m.incr("a", ttl=1)
        await m.incr("b", ttl=1)
        c.advance(2)
        await m.incr("c")  # sweeps expired keys when full
        assert await m.get("a") == 0 and await m.get("c") == 1
        await m.kv.set("x", b"1", ttl=1)
        await m.kv.set("y", b"1", ttl=1)
        c.advance(2)
        await m.kv.set("z", b"1")
        assert await m.kv.get("x") is None

    run(t())


def test_unknown_backend_is_a_clear_error() -> None:
    from cpragate.errors import StorageError

    with pytest.raises(StorageError, match="not available"):
        run(open_stores("mongodb://127.0.0.1:27017/x"))


def test_sqlite_unopenable_path(tmp_path: Path) -> None:
    from cpragate.errors import StorageError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((StorageError, OSError)):
        run(open_stores(f"sqlite:///{blocker}/sub/db.sqlite"))


# --------------------------------------------------------------------------- identity store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def identity_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return str(request.getfixturevalue("pg_url"))


def test_identity_store_consumers_and_keys(identity_url: str) -> None:
    async def t(s: Stores) -> None:
        ids = s.identity
        assert ids is not None and isinstance(ids, IdentityStore)
        assert await ids.get_consumer("app") is None and await ids.get_key("cpg_x") is None
        c = Consumer("app", "contractor", frozenset({"a", "b"}), frozenset({"r"}), {"tenants": ("t1", "t2")})
        await ids.put_consumer(c)
        got = await ids.get_consumer("app")
        assert got is not None and got.purpose == "contractor" and got.scopes == {"a", "b"}
        assert got.attributes["tenants"] == ("t1", "t2") and got.roles == {"r"} and not got.disabled
        await ids.put_consumer(Consumer("zed", disabled=True))
        assert [x.name for x in await ids.list_consumers()] == ["app", "zed"]
        k1 = ApiKeyRecord("cpg_aaaa", "h1", "app", None, created=1.0, expires=None)
        k2 = ApiKeyRecord("cpg_bbbb", "h2", "app", frozenset({"a"}), created=2.0, expires=100.0)
        k3 = ApiKeyRecord("cpg_cccc", "h3", "zed", created=3.0)
        for k in (k2, k1, k3):
            await ids.put_key(k)
        assert await ids.get_key("cpg_bbbb") == k2
        assert [k.prefix for k in await ids.list_keys()] == ["cpg_aaaa", "cpg_bbbb", "cpg_cccc"]
        assert [k.prefix for k in await ids.list_keys("app")] == ["cpg_aaaa", "cpg_bbbb"]
        assert await ids.revoke_key("cpg_aaaa", 50.0) is True
        assert await ids.revoke_key("cpg_aaaa", 70.0) is True  # a later revocation never extends
        r = await ids.get_key("cpg_aaaa")
        assert r is not None and r.revoked == 50.0 and r.valid_at(49.0) and not r.valid_at(50.0)
        assert await ids.revoke_key("cpg_none", 1.0) is False

    run(_with(identity_url, t))


def test_identity_store_persists_in_sqlite(tmp_path: Path) -> None:
    u = f"sqlite:///{tmp_path}/p.db"

    async def t1(s: Stores) -> None:
        assert s.identity is not None
        await s.identity.put_key(ApiKeyRecord("cpg_p", "h", "app", created=time.time()))

    async def t2(s: Stores) -> None:
        assert s.identity is not None and (await s.identity.get_key("cpg_p")) is not None

    run(_with(u, t1))
    run(_with(u, t2))


# --------------------------------------------------------------------------- limiter, served ids


async def _shared(kind: str) -> tuple[Limiter, ServedIds, Stores | None]:
    if kind == "local":
        clock = SystemClock()
        return LocalLimiter(clock), LocalServedIds(clock), None
    s = await open_stores("memory://", redis_url=redis_url())
    assert s.limiter is not None and s.served is not None and s.shared
    return s.limiter, s.served, s


@pytest.fixture(params=["local", "redis"])
def shared_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        require_service(REDIS, "Redis")
    return str(request.param)


def test_limiter_gcra_burst_then_refill(shared_kind: str) -> None:
    async def t() -> None:
        lim, _, s = await _shared(shared_kind)
        try:
            assert isinstance(lim, Limiter)
            got = [await lim.acquire("k", 0.05, 3) for _ in range(4)]
            assert [g.allowed for g in got] == [True, True, True, False]
            assert [g.remaining for g in got[:3]] == [2, 1, 0]
            assert 0 < got[3].retry_after <= 0.05 + 0.01 and got[3].remaining == 0
            assert 0.1 < got[2].reset_after <= 0.15 + 0.01
            await asyncio.sleep(0.06)
            assert (await lim.acquire("k", 0.05, 3)).allowed
            assert (await lim.acquire("other", 0.05, 3)).allowed  # buckets are independent
            assert not (await lim.acquire("big", 1.0, 2, cost=3)).allowed
        finally:
            if s is not None:
                await s.close()

    run(t())


def test_limiter_is_atomic_under_concurrency(shared_kind: str) -> None:
    async def t() -> None:
        lim, _, s = await _shared(shared_kind)
        try:
            res = await asyncio.gather(*(lim.acquire("c", 10.0, 25) for _ in range(60)))
            assert sum(r.allowed for r in res) == 25
        finally:
            if s is not None:
                await s.close()

    run(t())


def test_served_ids_bounded_and_per_key(shared_kind: str) -> None:
    async def t() -> None:
        _, served, s = await _shared(shared_kind)
        try:
            assert isinstance(served, ServedIds)
            await served.add("a", ["1", "2", "3"], max_ids=3, ttl=60)
            assert await served.contains("a", "1") and not await served.contains("b", "1")
            await served.add("a", ["4"], max_ids=3, ttl=60)
            assert not await served.contains("a", "1") and await served.contains("a", "4")
            await served.add("e", ["x"], max_ids=3, ttl=0.05)
            await asyncio.sleep(0.1)
            assert not await served.contains("e", "x")
            await served.add("a", [], max_ids=3, ttl=60)
        finally:
            if s is not None:
                await s.close()

    run(t())


def test_redis_unreachable_is_a_storage_error() -> None:
    from cpragate.errors import StorageError

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    with pytest.raises(StorageError):
        run(open_stores("memory://", redis_url=f"redis://127.0.0.1:{port}/0"))


def test_postgres_unreachable_is_a_storage_error() -> None:
    from cpragate.errors import StorageError

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    with pytest.raises(StorageError) as e:
        run(open_stores(f"postgresql://postgres:secret@127.0.0.1:{port}/test"))
    assert "secret" not in str(e.value)
