"""`cpragate keys` lifecycle against a SQLite store: create, use, list, rotate with overlap, revoke, expire."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import pytest

from cpragate.cli.keys import parse_duration
from cpragate.cli.main import main
from cpragate.config import load_config
from cpragate.core.filter import FilterContext
from cpragate.errors import IdentityError
from cpragate.filters.authn.filter import AuthnFilter
from cpragate.storage import open_stores
from cpragate.testing import make_exchange, make_request

CFG = """
state_dir: {state}
listeners: [{{bind: "127.0.0.1:0"}}]
upstreams: {{o: {{url: "https://api.internal"}}}}
routes: [{{path: /x, upstream: o}}]
storage: {{url: "sqlite:///{{state_dir}}/state.db"}}
filters:
  authn:
    consumers: [{{name: support-app, purpose: service_provider, scopes: [customers:read, orders:read]}}]
    api_keys: {{cache_seconds: 0}}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "gw.yaml"
    p.write_text(CFG.format(state=tmp_path / "state"))
    return p


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def authenticate(cfg: Path, key: str) -> Any:
    async def t() -> Any:
        c = load_config(cfg)
        stores = await open_stores(c.storage.url.replace("{state_dir}", c.state_dir))
        try:
            f = AuthnFilter(c.filters.authn, FilterContext(stores=stores))
            ex = make_exchange(make_request("GET", "/x", {"x-api-key": key}))
            v = await f.on_request(ex)
            return ex.identity if ex.identity is not None else v
        finally:
            await stores.close()

    return asyncio.run(t())


def test_lifecycle(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, key, err = cli(capsys, "keys", "create", "-c", str(cfg), "--consumer", "support-app", "--scopes", "customers:read", "--expires", "90d")
    key = key.strip()
    assert rc == 0 and key.startswith("cpg_") and "only time" in err
    ident = authenticate(cfg, key)
    assert ident.consumer == "support-app" and ident.scopes == {"customers:read"}
    rc, out, _ = cli(capsys, "keys", "list", "-c", str(cfg))
    prefix = key[:12]
    assert prefix in out and "active" in out and key not in out
    db = (cfg.parent / "state" / "state.db").read_bytes()
    assert key.encode() not in db and key[13:].encode() not in db  # only the hash is stored
    # rotate with overlap: both valid, then the old one is refused
    rc, new, err = cli(capsys, "keys", "rotate", "-c", str(cfg), prefix, "--overlap", "2s")
    new = new.strip()
    assert rc == 0 and new != key and "stays valid" in err
    assert authenticate(cfg, key).consumer == "support-app"
    assert authenticate(cfg, new).scopes == {"customers:read"}
    rc, out, _ = cli(capsys, "keys", "list", "-c", str(cfg), "--consumer", "support-app")
    assert "rotating" in out
    time.sleep(2.1)
    assert authenticate(cfg, key).rule == "authn:api_key:revoked"
    # revoke
    rc, out, _ = cli(capsys, "keys", "revoke", "-c", str(cfg), new[:12])
    assert rc == 0 and "revoked" in out
    assert authenticate(cfg, new).rule == "authn:api_key:revoked"
    assert cli(capsys, "keys", "revoke", "-c", str(cfg), "cpg_nonexist")[0] == 2


def test_expired_key_and_new_stored_consumer(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, key, _ = cli(capsys, "keys", "create", "-c", str(cfg), "--consumer", "partner", "--purpose", "third_party",
                     "--consumer-scopes", "orders:read", "--attr", "tenants=t2", "--expires", "1s")
    assert rc == 0
    ident = authenticate(cfg, key.strip())
    assert ident.purpose == "third_party" and ident.attribute("tenants") == ("t2",)
    time.sleep(1.1)
    assert authenticate(cfg, key.strip()).rule == "authn:api_key:expired"
    assert cli(capsys, "keys", "create", "-c", str(cfg), "--consumer", "nobody")[0] == 2


def test_hash_prints_prefix_and_hash(cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key = "cpg_abcdefgh_" + "A" * 43
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    rc, out, _ = cli(capsys, "keys", "hash")
    assert rc == 0 and "prefix: cpg_abcdefgh" in out and "hash: " in out
    monkeypatch.setattr("sys.stdin", io.StringIO("nope\n"))
    assert cli(capsys, "keys", "hash")[0] == 2


def test_durations() -> None:
    assert parse_duration("90d") == 90 * 86400 and parse_duration("1.5h") == 5400
    with pytest.raises(IdentityError):
        parse_duration("forever")
