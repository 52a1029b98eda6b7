"""Redis storage: state several gateway processes or machines share.

Rate limits use GCRA in one Lua script, so each step is atomic on the server and uses
the server's clock (``TIME``): gateways on different machines agree on time without
synchronized clocks. Served ids are sorted sets (score = time served) trimmed to a
bound on every add. Every key starts with a prefix (``cpragate:`` by default, or the
URL's ``?prefix=``) so instances or tests can share one server without clashing.

The calls on the request path — the rate limiter's script and the served-id guard —
go through ``redis_resp.RespClient``: one persistent pipelined connection, one await
per call, no Task (see that module for why, and bench/AUTH_RESULTS.md for the numbers).
The rest (key-value, counters) stays on redis-py's asyncio client.

Timeouts are short and there is at most one retry (for a connection that a Redis
restart left stale): a request never waits long on a dead Redis; the filter's
``on_error`` policy decides what happens then, and the next command reconnects by
itself once Redis is back. Driver errors are mapped to ``StorageError`` here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from cpragate.errors import StorageError
from cpragate.storage.access import LimitResult
from cpragate.storage.redis_resp import RespClient, Script, encode_evalsha

__all__ = ["GCRA_LUA", "RedisStore"]

T = TypeVar("T")

GCRA_LUA = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval * cost
local limit = interval * capacity
local diff = new_tat - now
if diff > limit then
  local remaining = math.floor((limit - (tat - now)) / interval)
  if remaining < 0 then remaining = 0 end
  return {0, remaining, string.format('%.0f', diff - limit), string.format('%.0f', tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(diff / 1000) + 1)
return {1, math.floor((limit - diff) / interval), '0', string.format('%.0f', diff)}
"""
"""Times in integer microseconds: a double holds them exactly, Lua's %g would not."""

_INCR_LUA = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

_SERVED_ADD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _split_prefix(url: str) -> tuple[str, str]:
    u = urlsplit(url)
    q = parse_qsl(u.query)
    prefix = next((v for k, v in q if k == "prefix"), "cpragate")
    rest = urlencode([(k, v) for k, v in q if k != "prefix"])
    return urlunsplit((u.scheme, u.netloc, u.path, rest, u.fragment)), prefix + ":"


def gcra_reply(res: Any) -> tuple[bool, int, float, float]:
    """The GCRA script's reply: (allowed, remaining, retry after s, reset after s)."""
    try:
        allowed, remaining, retry, reset = res
        return allowed == 1, int(remaining), int(retry) / 1e6, int(reset) / 1e6
    except (TypeError, ValueError):
        raise StorageError("Redis rate-limit script answered something unexpected.") from None


class RedisStore:
    """CounterStore, Limiter and ServedIds on Redis; ``kv`` is the KeyValueStore."""

    def __init__(self, url: str, timeout: float = 0.5, max_connections: int = 32) -> None:
        clean, self.prefix = _split_prefix(url)
        # A bounded pool that waits (up to the timeout) for a free connection: a burst of
        # requests queues for Redis instead of opening thousands of connections.
        pool = aioredis.BlockingConnectionPool.from_url(
            clean,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        self._r: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._gcra = self._r.register_script(GCRA_LUA)
        self._incr = self._r.register_script(_INCR_LUA)
        self._served_add = self._r.register_script(_SERVED_ADD_LUA)
        # The request path: a pipelined connection of our own (redis_resp).
        self.resp = RespClient(clean, timeout=timeout)
        self._gcra_script = self.resp.register(Script(GCRA_LUA))
        self._served_script = self.resp.register(Script(_SERVED_ADD_LUA))
        self._gcra_cmds: dict[tuple[str, float, int, int], tuple[bytes, bytes]] = {}
        """The encoded EVALSHA/EVAL per bucket and limit (bounded): nothing is formatted per request."""
        self.kv = RedisKV(self)
        self.limiter = self
        self.served = RedisServedIds(self)
        from cpragate.storage.redis_alerts import RedisAlerts, RedisBlocks, RedisWindowCounts

        self.alerts = RedisAlerts(self)
        self.blocks = RedisBlocks(self)
        self.windows = RedisWindowCounts(self)

    @classmethod
    async def open(cls, url: str) -> RedisStore:
        """Connect and check that the server answers (a clear error at startup, not at the first request)."""
        s = cls(url)
        try:
            await s.call(lambda r: r.ping())
            await s.resp.connect()
        except BaseException:
            await s.aclose()
            raise
        return s

    async def call(self, fn: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if asyncio.current_task() is None:
            # The data plane steps phase coroutines outside a Task until they suspend
            # (server/eager.py); the driver's timeouts need one.
            return await asyncio.ensure_future(self._call(fn))
        return await self._call(fn)

    async def _call(self, fn: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        try:
            return await fn(self._r)
        except (RedisError, OSError) as e:
            raise StorageError(f"Redis operation failed ({type(e).__name__}).") from None

    # ------------------------------------------------------------------ counters

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        ms = 0 if ttl is None else max(1, math.ceil(ttl * 1000))
        v = await self.call(lambda r: self._incr(keys=[self.prefix + "c:" + key], args=[amount, ms]))
        return int(v)

    async def get(self, key: str) -> int:
        v = await self.call(lambda r: r.get(self.prefix + "c:" + key))
        return int(v) if v is not None else 0

    # ------------------------------------------------------------------ limiter

    async def acquire(self, key: str, interval: float, capacity: int, cost: int = 1) -> LimitResult:
        allowed, remaining, retry, reset = gcra_reply(await self.gcra_soon(key, interval, capacity, cost))
        return LimitResult(allowed, remaining, retry, reset)

    gcra_reply = staticmethod(gcra_reply)

    def gcra_soon(self, key: str, interval: float, capacity: int, cost: int = 1) -> asyncio.Future[Any]:
        """``acquire`` as the Future of the script's raw reply, decoded by :func:`gcra_reply`:
        the rate limiter's request path awaits it directly (no coroutine, no LimitResult)."""
        ck = (key, interval, capacity, cost)
        cmd = self._gcra_cmds.get(ck)
        if cmd is None:
            us = max(1, round(interval * 1_000_000))
            cmd = encode_evalsha(self._gcra_script, (self.prefix + "rl:" + key,), (us, capacity, cost))
            if len(self._gcra_cmds) >= 10_000:
                del self._gcra_cmds[next(iter(self._gcra_cmds))]
            self._gcra_cmds[ck] = cmd
        return self.resp.submit(*cmd)

    async def aclose(self) -> None:
        await self.resp.aclose()
        try:
            await self._r.aclose(close_connection_pool=True)
        except (RedisError, OSError):
            pass


class RedisKV:
    """KeyValueStore on Redis."""

    def __init__(self, store: RedisStore) -> None:
        self._s = store

    async def get(self, key: str) -> bytes | None:
        v = await self._s.call(lambda r: r.get(self._s.prefix + "kv:" + key))
        if v is None:
            return None
        return v if isinstance(v, bytes) else str(v).encode()

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await self._s.call(lambda r: r.set(self._s.prefix + "kv:" + key, value, px=px))

    async def delete(self, key: str) -> bool:
        n = await self._s.call(lambda r: r.delete(self._s.prefix + "kv:" + key))
        return int(n) > 0


class RedisServedIds:
    """ServedIds on Redis sorted sets."""

    def __init__(self, store: RedisStore) -> None:
        self._s = store

    async def add(self, key: str, ids: list[str], max_ids: int, ttl: float) -> None:
        if not ids:
            return
        ms = max(1, math.ceil(ttl * 1000))
        k = self._s.prefix + "served:" + key
        await self._s.resp.evalsha(self._s._served_script, (k,), (max_ids, ms, *ids[-max_ids:]))

    async def contains(self, key: str, object_id: str) -> bool:
        v = await self._s.resp.call("ZSCORE", self._s.prefix + "served:" + key, object_id)
        return v is not None
