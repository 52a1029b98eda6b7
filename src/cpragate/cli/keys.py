"""``cpragate keys``: create, list, revoke and rotate API keys in the configured store.

A new key is printed once and never again: only its keyed hash is stored, with a short
public prefix (``cpg_xxxxxxxx``) that names it in lists and logs. The store is the one
the config names (``storage.url``: SQLite by default, PostgreSQL for several gateways);
the running gateway sees changes within ``api_keys.cache_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar, get_args

from cpragate.config import load_config
from cpragate.config.model import GatewayConfig
from cpragate.core.access import Consumer, Purpose
from cpragate.errors import IdentityError
from cpragate.filters.authn.apikeys import generate_key, hash_key, prefix_of
from cpragate.storage import open_stores
from cpragate.storage.access import ApiKeyRecord, IdentityStore

__all__ = ["parse_duration", "register"]

T = TypeVar("T")
_DUR = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` in seconds."""
    m = _DUR.match(text.strip())
    if not m:
        raise IdentityError(f"{text!r} is not a duration.", fix="Write a number and a unit: 45s, 30m, 12h, 90d or 2w.")
    return float(m.group(1)) * _UNIT[m.group(2)]


def _expiry(text: str | None, now: float) -> float | None:
    if text is None:
        return None
    if _DUR.match(text.strip()):
        return now + parse_duration(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise IdentityError(f"--expires {text!r} is neither a duration nor an ISO 8601 time.",
                            fix="Use e.g. 90d or 2027-01-31T00:00:00+00:00.") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _run(cfg_path: str, fn: Callable[[GatewayConfig, IdentityStore, bytes | None], Awaitable[T]]) -> T:
    cfg = load_config(cfg_path)
    url = cfg.storage.url.replace("{state_dir}", str(Path(cfg.state_dir)))
    ak = cfg.filters.authn.api_keys
    secret = ak.hash_secret.get_secret_value().encode() if ak is not None and ak.hash_secret is not None else None

    async def go() -> T:
        stores = await open_stores(url)
        try:
            if stores.identity is None:
                raise IdentityError(f"storage {url.split(':', 1)[0]}:// keeps no consumers or keys.",
                                    fix="Use sqlite:///path or postgresql://… as storage.url (Redis goes in storage.redis).")
            return await fn(cfg, stores.identity, secret)
        finally:
            await stores.close()

    return asyncio.run(go())


async def _consumer(cfg: GatewayConfig, store: IdentityStore, name: str) -> Consumer | None:
    for c in cfg.filters.authn.consumers:
        if c.name == name:
            return c.to_consumer()
    return await store.get_consumer(name)


def _fmt_time(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_key(key: str, rec: ApiKeyRecord) -> None:
    print(key)
    print(
        f"# prefix {rec.prefix}, consumer {rec.consumer}, expires {_fmt_time(rec.expires)}. "
        "This is the only time the key is shown: store it in a secret manager.",
        file=sys.stderr,
    )


def _cmd_create(args: argparse.Namespace) -> int:
    async def op(cfg: GatewayConfig, store: IdentityStore, secret: bytes | None) -> int:
        now = time.time()
        c = await _consumer(cfg, store, args.consumer)
        if c is None:
            if args.purpose is None:
                raise IdentityError(f"consumer {args.consumer!r} is neither declared in the config nor stored.")
            attrs: dict[str, tuple[str, ...]] = {}
            for a in args.attr or []:
                k, sep, v = a.partition("=")
                if not sep or not k:
                    raise IdentityError(f"--attr {a!r} must be NAME=V1,V2.")
                attrs[k] = tuple(x for x in v.split(",") if x)
            c = Consumer(args.consumer, args.purpose, frozenset(_split(args.consumer_scopes)),
                         frozenset(_split(args.roles)), MappingProxyType(attrs))
            await store.put_consumer(c)
        key, prefix = generate_key()
        scopes = None if args.scopes is None else frozenset(_split(args.scopes))
        rec = ApiKeyRecord(prefix, hash_key(key.encode(), secret), c.name, scopes, now, _expiry(args.expires, now))
        await store.put_key(rec)
        _print_key(key, rec)
        return 0

    return _run(args.config, op)


def _split(v: str | None) -> list[str]:
    return [s for s in (v or "").replace(" ", ",").split(",") if s]


def _cmd_list(args: argparse.Namespace) -> int:
    async def op(cfg: GatewayConfig, store: IdentityStore, secret: bytes | None) -> int:
        now = time.time()
        print(f"{'PREFIX':<14} {'CONSUMER':<20} {'STATE':<9} {'CREATED':<21} {'EXPIRES':<21} {'UNTIL':<21} SCOPES")
        declared = cfg.filters.authn.api_keys.keys if cfg.filters.authn.api_keys else []
        for d in declared:
            if args.consumer in (None, d.consumer):
                print(f"{d.prefix:<14} {d.consumer:<20} {'config':<9} {'-':<21} "
                      f"{_fmt_time(d.expires.timestamp() if d.expires else None):<21} {'-':<21} "
                      f"{','.join(d.scopes) if d.scopes is not None else '(consumer)'}")
        for r in await store.list_keys(args.consumer):
            scopes = "(consumer)" if r.scopes is None else ",".join(sorted(r.scopes))
            print(f"{r.prefix:<14} {r.consumer:<20} {r.state_at(now):<9} {_fmt_time(r.created):<21} "
                  f"{_fmt_time(r.expires):<21} {_fmt_time(r.revoked):<21} {scopes}")
        return 0

    return _run(args.config, op)


def _cmd_revoke(args: argparse.Namespace) -> int:
    async def op(cfg: GatewayConfig, store: IdentityStore, secret: bytes | None) -> int:
        if not await store.revoke_key(args.prefix, time.time()):
            raise IdentityError(f"no stored key has the prefix {args.prefix!r}.")
        print(f"revoked {args.prefix} (refused within api_keys.cache_seconds by running gateways)")
        return 0

    return _run(args.config, op)


def _cmd_rotate(args: argparse.Namespace) -> int:
    async def op(cfg: GatewayConfig, store: IdentityStore, secret: bytes | None) -> int:
        old = await store.get_key(args.prefix)
        now = time.time()
        if old is None or not old.valid_at(now):
            raise IdentityError(f"no valid stored key has the prefix {args.prefix!r}.")
        overlap = parse_duration(args.overlap)
        key, prefix = generate_key()
        rec = ApiKeyRecord(prefix, hash_key(key.encode(), secret), old.consumer, old.scopes, now, old.expires)
        await store.put_key(rec)
        await store.revoke_key(old.prefix, now + overlap)
        _print_key(key, rec)
        print(f"# {old.prefix} stays valid until {_fmt_time(now + overlap)}", file=sys.stderr)
        return 0

    return _run(args.config, op)


def _cmd_hash(args: argparse.Namespace) -> int:
    secret = None
    if args.config:
        cfg = load_config(args.config)
        ak = cfg.filters.authn.api_keys
        secret = ak.hash_secret.get_secret_value().encode() if ak is not None and ak.hash_secret is not None else None
    key = sys.stdin.readline().strip().encode()
    prefix = prefix_of(key)
    if prefix is None:
        raise IdentityError("standard input is not an API key (cpg_xxxxxxxx_…).")
    print(f"prefix: {prefix}\nhash: {hash_key(key, secret)}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` command and its subcommands to the CLI."""
    keys = subparsers.add_parser("keys", help="create, list, revoke and rotate API keys",
                                 description="API keys of consumers, in the store the config names.")
    ks = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    ks.required = True

    def sub(name: str, help_: str) -> argparse.ArgumentParser:
        p = ks.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
        p.add_argument("-c", "--config", required=name != "hash", help="the gateway's config (its storage and hash_secret)")
        return p

    c = sub("create", "create a key for a consumer and print it once")
    c.add_argument("--consumer", required=True, help="consumer name (declared in the config or stored)")
    c.add_argument("--scopes", help="narrow the consumer's scopes for this key: a,b")
    c.add_argument("--expires", help="lifetime (90d, 12h) or an ISO 8601 time")
    c.add_argument("--purpose", choices=list(get_args(Purpose)), help="store a new consumer with this CPRA purpose")
    c.add_argument("--consumer-scopes", help="a new consumer's scopes: a,b")
    c.add_argument("--roles", help="a new consumer's roles: a,b")
    c.add_argument("--attr", action="append", help="a new consumer's attribute NAME=V1,V2 (repeatable)")
    c.set_defaults(func=_cmd_create)
    ls = sub("list", "list keys (prefix, consumer, state, dates, scopes; never secrets)")
    ls.add_argument("--consumer", help="only this consumer's keys")
    ls.set_defaults(func=_cmd_list)
    r = sub("revoke", "refuse a key from now on")
    r.add_argument("prefix")
    r.set_defaults(func=_cmd_revoke)
    ro = sub("rotate", "issue a replacement key; the old one stays valid for the overlap")
    ro.add_argument("prefix")
    ro.add_argument("--overlap", default="24h", help="how long the old key stays valid (default 24h)")
    ro.set_defaults(func=_cmd_rotate)
    h = sub("hash", "print the prefix and hash of a key read from standard input (to declare it in a config)")
    h.set_defaults(func=_cmd_hash)
