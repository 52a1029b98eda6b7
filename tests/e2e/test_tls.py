"""TLS on every hop: HTTPS listener, verified HTTPS upstream, mTLS on both sides."""

from __future__ import annotations

import ssl
from typing import ClassVar

import orjson
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.demo.certs import DevPki
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, client_ssl, gateway, origin, run, server_ssl

pytestmark = pytest.mark.e2e


def echo(req: OriginRequest) -> OriginResponse:
    body = orjson.dumps(
        {"subject": req.peer_cert_subject, "xfp": (req.request.headers.get(b"x-forwarded-proto") or b"").decode()}
    )
    return OriginResponse(200, [(b"content-type", b"application/json")], body)


class SeeTls(Filter):
    name = "see_tls"
    priority = 100
    seen: ClassVar[list[object]] = []

    async def on_request(self, exchange: Exchange) -> Verdict:
        self.seen.append(exchange.tls)
        return CONTINUE


def config(pki: DevPki, up_port: int, *, client_auth: str = "none", up_client_cert: bool = True, ca: bool = True, min_version: str = "1.2") -> str:
    mtls = ""
    if client_auth != "none":
        mtls = f', client_auth: {client_auth}, client_ca_file: "{pki.path("ca.pem")}"'
    up_tls = []
    if ca:
        up_tls.append(f'ca_file: "{pki.path("ca.pem")}"')
    if up_client_cert:
        up_tls.append(f'cert_file: "{pki.path("gateway-client.pem")}", key_file: "{pki.path("gateway-client-key.pem")}"')
    return f"""
listeners:
  - bind: "127.0.0.1:0"
    tls: {{cert_file: "{pki.path('gateway.pem')}", key_file: "{pki.path('gateway-key.pem')}", min_version: "{min_version}"{mtls}}}
upstreams:
  api: {{url: "https://localhost:{up_port}", tls: {{{", ".join(up_tls)}}}}}
routes:
  - {{path: "/**", upstream: api, personal: true}}
storage: {{url: "memory://"}}
"""


def test_tls_both_hops_with_mtls_to_upstream(pki: DevPki) -> None:
    async def t() -> None:
        async with origin(echo, server_ssl(pki, "api", require_client=True)) as o, gateway(config(pki, o.port)) as gw:
            c = await Client.open(gw.bound_ports()[0], client_ssl(pki))
            r = await c.request("GET", "/v1/customers/1")
            assert r.status == 200
            doc = orjson.loads(r.body)
            assert doc["subject"] and "gateway-client" in doc["subject"]  # the API saw our client cert
            assert doc["xfp"] == "https"
            assert (r.h("strict-transport-security") or b"").startswith(b"max-age=")
            assert r.h("cache-control") == b"no-store"  # personal route
            tls = c.w.get_extra_info("ssl_object")
            assert tls.version() in ("TLSv1.2", "TLSv1.3")

    run(t())


def test_upstream_requiring_mtls_refuses_gateway_without_cert(pki: DevPki) -> None:
    async def t() -> None:
        async with origin(echo, server_ssl(pki, "api", require_client=True)) as o, gateway(config(pki, o.port, up_client_cert=False)) as gw:
            c = await Client.open(gw.bound_ports()[0], client_ssl(pki))
            r = await c.request("GET", "/x")
            assert r.status == 502

    run(t())


def test_upstream_certificate_is_verified(pki: DevPki) -> None:
    async def t() -> None:
        # Without the dev CA the upstream's certificate is untrusted: refused, never sent plaintext.
        async with origin(echo, server_ssl(pki, "api")) as o, gateway(config(pki, o.port, ca=False, up_client_cert=False)) as gw:
            c = await Client.open(gw.bound_ports()[0], client_ssl(pki))
            r = await c.request("GET", "/x")
            assert r.status == 502 and orjson.loads(r.body)["code"] == "CPG-UPS-004"
            assert o.requests == []

    run(t())


def test_listener_mtls_required_and_subject_reaches_filters(pki: DevPki) -> None:
    async def t() -> None:
        SeeTls.seen.clear()
        async with origin(echo, server_ssl(pki, "api", require_client=True)) as o, gateway(
            config(pki, o.port, client_auth="required"), {"see_tls": SeeTls}
        ) as gw:
            c = await Client.open(gw.bound_ports()[0], client_ssl(pki, "partner"))
            r = await c.request("GET", "/x")
            assert r.status == 200
            info = SeeTls.seen[-1]
            assert info is not None and "partner.demo.cpragate" in (info.client_subject or "")  # type: ignore[attr-defined]
            refused = False
            try:
                c2 = await Client.open(gw.bound_ports()[0], client_ssl(pki))
                await c2.request("GET", "/x", timeout=3)
            except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
                refused = True
            assert refused, "a client without a certificate must not be served"

    run(t())


def test_tls_1_1_and_1_0_refused_and_13_only_option(pki: DevPki) -> None:
    async def t() -> None:
        async with origin(echo, server_ssl(pki, "api", require_client=True)) as o, gateway(config(pki, o.port, min_version="1.3")) as gw:
            port = gw.bound_ports()[0]
            old = client_ssl(pki)
            old.maximum_version = ssl.TLSVersion.TLSv1_2
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                await Client.open(port, old)
            c = await Client.open(port, client_ssl(pki))
            assert (await c.request("GET", "/x")).status == 200
            assert c.w.get_extra_info("ssl_object").version() == "TLSv1.3"

    run(t())
    from cpragate.config.model import ListenerTls

    with pytest.raises(Exception):
        ListenerTls(cert_file="c", key_file="k", min_version="1.1")  # type: ignore[arg-type]


@pytest.mark.parametrize("batch", ["true", "false"])
def test_an_answer_reaches_a_client_whose_close_notify_came_with_the_request(pki: DevPki, batch: str) -> None:
    """`printf 'GET …' | openssl s_client`: the request and the client's TLS close in one read.
    After the peer's EOF uvloop's TLS transport shuts down and drops later writes, so an
    answer queued for the end of the loop's pass (limits.batch_writes) is written at the EOF."""
    import asyncio
    import socket

    cfg = f"""
listeners: [{{bind: "127.0.0.1:0", tls: {{cert_file: "{pki.path('gateway.pem')}", key_file: "{pki.path('gateway-key.pem')}"}}}}]
upstreams: {{o: {{url: "http://127.0.0.1:9", allow_plaintext: true}}}}
routes: [{{path: /a, upstream: o}}]
storage: {{url: "memory://"}}
limits: {{batch_writes: {batch}}}
"""

    async def t() -> bytes:
        loop = asyncio.get_running_loop()
        async with gateway(cfg) as gw:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = ctx.wrap_bio(inc, out)
            with socket.create_connection(("127.0.0.1", gw.bound_ports()[0])) as s:
                s.setblocking(False)
                while True:  # the handshake, by hand: the close must go in the request's segment
                    try:
                        tls.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        if pending := out.read():
                            await loop.sock_sendall(s, pending)
                        inc.write(await asyncio.wait_for(loop.sock_recv(s, 65536), 5))
                if pending := out.read():
                    await loop.sock_sendall(s, pending)
                tls.write(b"GET /zzz HTTP/1.1\r\nhost: x\r\n\r\n")
                try:
                    tls.unwrap()
                except ssl.SSLWantReadError:
                    pass
                await loop.sock_sendall(s, out.read())  # the request and close_notify together
                raw = b""
                for _ in range(50):  # bounded: until the gateway closes, at most ~10 s
                    try:
                        d = await asyncio.wait_for(loop.sock_recv(s, 65536), 0.2)
                    except TimeoutError:
                        continue
                    if not d:
                        break
                    raw += d
            inc.write(raw)
            plain = b""
            while True:
                try:
                    d = tls.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLError):
                    break
                if not d:
                    break
                plain += d
            return plain

    assert run(t()).startswith(b"HTTP/1.1 404 Not Found\r\n")
