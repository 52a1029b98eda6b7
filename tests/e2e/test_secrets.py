"""Secrets come from the environment or files and are never shown: `cpragate config check`
(on a good config and on a broken one) and a running gateway's log print none of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port, start_cpragate, stop_proc

pytestmark = pytest.mark.e2e

HASH_SECRET = "hash-secret-5e1f0c9a7b3d2e48"
HS256 = "hs256-secret-value-0123456789abcdef0123"
SIGNING = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"  # 32 bytes, hex


def _config(tmp: Path, port: int, bind_from_env: bool = False) -> Path:
    (tmp / "signing.key").write_text(SIGNING + "\n")
    bind = "${CPG_TEST_BIND}" if bind_from_env else f"127.0.0.1:{port}"
    cfg = tmp / "gw.yaml"
    cfg.write_text(f"""
state_dir: "{tmp / 'state'}"
listeners: [{{bind: "{bind}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:9", allow_plaintext: true}}}}
routes: [{{path: /a, upstream: o}}]
storage: {{url: "memory://"}}
logging: {{level: debug, access_log: true}}
filters:
  authn:
    api_keys: {{hash_secret: "${{CPG_TEST_HASH_SECRET}}"}}
    jwt: {{issuer: "https://idp", audience: [api], algorithms: [HS256], hs256_secret: "${{CPG_TEST_HS256}}"}}
  audit: {{enabled: true, signing_key: "file:{tmp / 'signing.key'}"}}
""")
    return cfg


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CPG_TEST_HASH_SECRET": HASH_SECRET, "CPG_TEST_HS256": HS256, **extra}


def _assert_clean(text: str) -> None:
    for s in (HASH_SECRET, HS256, SIGNING):
        assert s not in text, "a secret was printed"


def test_config_check_never_prints_secrets(tmp_path: Path) -> None:
    cfg = _config(tmp_path, free_port())
    r = subprocess.run([sys.executable, "-m", "cpragate", "config", "check", str(cfg)], capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout
    _assert_clean(r.stdout + r.stderr)
    # a broken config whose refused value came from the environment: located, not quoted
    bad = _config(tmp_path, 0, bind_from_env=True)
    r = subprocess.run([sys.executable, "-m", "cpragate", "config", "check", str(bad)], capture_output=True, text=True,
                       env=_env(CPG_TEST_BIND=HASH_SECRET), timeout=60)
    assert r.returncode != 0
    assert "listeners[0].bind" in r.stdout + r.stderr
    _assert_clean(r.stdout + r.stderr)


def test_running_gateway_log_holds_no_secret(tmp_path: Path) -> None:
    port = free_port()
    cfg = _config(tmp_path, port)
    log = tmp_path / "gw.log"
    old = os.environ.copy()
    os.environ.update(_env())
    try:
        p = start_cpragate(cfg, port, log=log)
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        import socket

        for path in (b"/a", b"/nope", b"/a?x=1"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET " + path + b" HTTP/1.1\r\nhost: x\r\nauthorization: Bearer " + HS256.encode() + b"\r\nconnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
    finally:
        assert stop_proc(p) == 0
    text = log.read_text()
    assert "cpragate.access" in text
    _assert_clean(text)
