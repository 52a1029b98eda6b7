"""The TLS a client-facing listener accepts, probed with real handshakes: TLS 1.0/1.1 and
weak TLS 1.2 suites (CBC, RSA key exchange, 3DES, NULL, anonymous) are refused at the
default settings; forward-secret AEAD suites and TLS 1.3 are accepted. The offered
suites and versions are checked on the server's own context too, so the verdict does not
depend on what this machine's OpenSSL is willing to offer as a client."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings

import pytest

from cpragate.config.model import ListenerTls, UpstreamTls
from cpragate.demo.certs import DevPki
from cpragate.server.origin import OriginRequest, OriginResponse
from cpragate.server.tls import client_context, server_context

from .conftest import gateway, origin, run

pytestmark = pytest.mark.e2e

# The dev PKI's gateway certificate is ECDSA (P-256): the suites an attacker could actually
# negotiate with it are the ECDSA-authenticated ones; RSA-key-exchange suites are listed too.
WEAK_12 = [
    "ECDHE-ECDSA-AES128-SHA",  # CBC
    "ECDHE-ECDSA-AES256-SHA",  # CBC
    "ECDHE-ECDSA-AES128-SHA256",  # CBC
    "ECDHE-ECDSA-AES256-SHA384",  # CBC
    "ECDHE-ECDSA-NULL-SHA",  # no encryption
    "AECDH-AES128-SHA",  # anonymous: no authentication
    "AES128-SHA",  # RSA key exchange, CBC
    "AES256-GCM-SHA384",  # RSA key exchange (no forward secrecy)
    "DES-CBC3-SHA",  # 3DES (Sweet32)
]
STRONG_12 = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]


def ok(req: OriginRequest) -> OriginResponse:
    return OriginResponse(200, [], b"ok")


def _handshake(port: int, pki: DevPki, *, version: ssl.TLSVersion, ciphers: str | None = None) -> str | None:
    """The negotiated cipher, or None when the handshake failed (blocking; run in a thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.path("ca.pem"))
    with warnings.catch_warnings():  # TLSv1/TLSv1_1 are deprecated: exactly why we offer them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers is not None:
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    result: list[str | None] = [None]

    def go() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s, ctx.wrap_socket(s, server_hostname="localhost") as t:
                c = t.cipher()
                result[0] = c[0] if c else None
        except (ssl.SSLError, OSError):
            result[0] = None

    th = threading.Thread(target=go)
    th.start()
    th.join(10)
    return result[0]


def _client_can_offer(version: ssl.TLSVersion, cipher: str | None = None) -> bool:
    """Whether this machine's OpenSSL can even build such a ClientHello."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = version
        ctx.set_ciphers((cipher or "DEFAULT") + ":@SECLEVEL=0")
    except (ssl.SSLError, ValueError):
        return False
    return True


def _config(pki: DevPki, port: int) -> str:
    return f"""
listeners:
  - bind: "127.0.0.1:0"
    tls: {{cert_file: "{pki.path('gateway.pem')}", key_file: "{pki.path('gateway-key.pem')}"}}
upstreams: {{o: {{url: "http://127.0.0.1:{port}", allow_plaintext: true}}}}
routes: [{{path: "/**", upstream: o}}]
storage: {{url: "memory://"}}
"""


def test_old_versions_and_weak_suites_are_refused_strong_ones_accepted(pki: DevPki) -> None:
    import asyncio

    async def t() -> None:
        async with origin(ok) as o, gateway(_config(pki, o.port)) as gw:
            port = gw.bound_ports()[0]
            probed_old = 0
            for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
                if _client_can_offer(v, "ALL"):
                    probed_old += 1
                    assert await asyncio.to_thread(_handshake, port, pki, version=v, ciphers="ALL") is None, v
            refused = 0
            for c in WEAK_12:
                if _client_can_offer(ssl.TLSVersion.TLSv1_2, c):
                    assert await asyncio.to_thread(_handshake, port, pki, version=ssl.TLSVersion.TLSv1_2, ciphers=c) is None, c
                    refused += 1
            assert refused >= 4, "too few weak suites could be offered by this OpenSSL to mean anything"
            for c in STRONG_12:
                assert await asyncio.to_thread(_handshake, port, pki, version=ssl.TLSVersion.TLSv1_2, ciphers=c) == c
            got = await asyncio.to_thread(_handshake, port, pki, version=ssl.TLSVersion.TLSv1_3)
            assert got is not None and got.startswith("TLS_")
            print(f"probed {probed_old} old versions and {refused} weak suites")

    run(t())


def test_the_contexts_themselves_allow_only_tls12_aead_with_ecdhe(pki: DevPki) -> None:
    server = server_context(ListenerTls(cert_file=pki.path("gateway.pem"), key_file=pki.path("gateway-key.pem")))
    client = client_context(UpstreamTls(ca_file=pki.path("ca.pem")))
    for ctx in (server, client):
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
        for c in ctx.get_ciphers():
            if c["protocol"] == "TLSv1.2":
                assert c["aead"] and c["kea"] == "kx-ecdhe", c["name"]
    assert server.options & ssl.OP_NO_COMPRESSION  # CRIME
    assert server.options & ssl.OP_NO_RENEGOTIATION
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
