"""The example API behaves as its docstring says, in both modes (the scanner's own tests
rely on it)."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path

import httpx
import pytest

from cpragate.demo.certs import ensure_dev_pki
from cpragate.testing.vulnapi import VulnApi


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


def _client(api: VulnApi, pki) -> httpx.Client:  # type: ignore[no-untyped-def]
    verify = ssl.create_default_context(cafile=pki.path("ca.pem")) if api.fixed else True
    return httpx.Client(base_url=api.url, verify=verify, trust_env=False)


@pytest.mark.parametrize("fixed", [False, True])
def test_planted_flaws_exist_only_in_the_vulnerable_mode(fixed: bool, pki) -> None:  # type: ignore[no-untyped-def]
    kw = dict(cert_file=pki.path("gateway.pem"), key_file=pki.path("gateway-key.pem")) if fixed else {}
    with VulnApi(fixed=fixed, **kw) as api, _client(api, pki) as c:
        alice = {"Authorization": f"Bearer {api.login('alice', 'alice-Passw0rd!')}"}
        bob = {"Authorization": f"Bearer {api.login('bob', 'bob-Passw0rd!')}"}
        note = c.post("/api/v1/notes", json={"title": "t", "body": "b"}, headers=alice).json()
        other = c.get(f"/api/v1/notes/{note['id']}", headers=bob)
        assert other.status_code == (404 if fixed else 200)
        none = f"{_b64({'alg': 'none'})}.{_b64({'sub': 'root'})}."
        assert c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {none}"}).status_code == (401 if fixed else 200)
        me = c.get("/api/v1/users/me", headers=alice).json()
        assert ("password_hash" in me) is not fixed
        assert c.get("/api/v1/admin/users", headers=alice).status_code == (403 if fixed else 200)
        assert c.get("/api/v1/products", params={"limit": 200}, headers=alice).status_code == (400 if fixed else 200)
        unknown = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
        wrong = c.post("/api/v1/auth/login", json={"username": "alice", "password": "x"})
        assert (unknown.status_code == wrong.status_code) is fixed
        search = c.get("/api/v1/products/search", params={"q": "'"}, headers=alice)
        assert search.status_code == (200 if fixed else 500)
        assert (c.get("/api/v0/notes").status_code == 200) is not fixed
        with pytest.raises(ValueError):
            api.login("alice", "wrong")


def test_fixed_twin_throttles_a_burst(pki) -> None:  # type: ignore[no-untyped-def]
    with VulnApi(fixed=True, cert_file=pki.path("gateway.pem"), key_file=pki.path("gateway-key.pem")) as api, _client(api, pki) as c:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: c.get("/health").status_code, range(80)))
        assert 429 in statuses and statuses.count(200) >= 20


def test_spec_file_ships_with_the_package() -> None:
    assert Path(VulnApi.__module__.replace(".", "/")).name == "vulnapi"
    from cpragate.testing.vulnapi import SPEC_PATH

    assert SPEC_PATH.is_file() and "openapi: 3.1.0" in SPEC_PATH.read_text()
