"""``cpragate demo``: the demo API behind the gateway, TLS and mTLS on both hops."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import sys
from importlib.resources import files
from pathlib import Path

from cpragate.config import load_config_text
from cpragate.demo.api import DemoApi
from cpragate.demo.certs import DevPki, ensure_dev_pki
from cpragate.server.gateway import Gateway, open_default_stores
from cpragate.server.origin import OriginServer
from cpragate.server.serve import new_loop, setup_logging

__all__ = ["demo_config", "policy_text", "run_demo"]


def policy_text() -> str:
    return (files("cpragate.demo") / "policy.yaml").read_text(encoding="utf-8")


def demo_config(  # type: ignore[no-untyped-def]
    state: Path, bind: str, upstream: str, admin_bind: str = "127.0.0.1:0", text: str | None = None
):
    """The demo policy (``text``: another policy text, e.g. the benchmarks' copy) loaded
    with the demo's environment."""
    env = dict(os.environ)
    env.update(
        CPRAGATE_DEMO_STATE=str(state),
        CPRAGATE_DEMO_BIND=bind,
        CPRAGATE_DEMO_UPSTREAM=upstream,
        CPRAGATE_DEMO_UPSTREAM_PLAINTEXT="false",
        CPRAGATE_DEMO_ADMIN_BIND=admin_bind,
        CPRAGATE_DEMO_ADMIN_KEY=ADMIN_KEY,
    )
    # The spec the routes come from (demo-openapi.yaml) sits next to the policy.
    return load_config_text(policy_text() if text is None else text, "demo-policy.yaml", env=env, base_dir=Path(str(files("cpragate.demo"))))


def api_ssl_context(pki: DevPki) -> ssl.SSLContext:
    """The demo API's own TLS: it only talks to clients with a certificate from the dev CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.path("api.pem"), pki.path("api-key.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(pki.path("ca.pem"))
    return ctx


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


SUPPORT_KEY = "cpg_dgf2lgz3_ewF30G2dBW_Tx83hO7kVLYL5KY_kU1m0zieaepiPl5Q"
"""Demo-only keys, published in the demo policy (where only their hashes are)."""
MARKETING_KEY = "cpg_k6kmcfm4_ERMdnzNrr3kCo1MLp2Aju2K9QMEzh0j5c7WhGWWOrl0"
ADMIN_KEY = "demo-admin-key-4f7c2a9e1b6d8035"
"""The demo's admin key (dashboard sign-in), published like the API keys: demo only."""
ADMIN_PORT = 9901


def banner(port: int, state: Path, api_port: int, admin_url: str | None = None) -> str:
    ca = state / "ca.pem"
    base = f"https://localhost:{port}"
    dash = (
        f"  dashboard: {admin_url}   (sign in with the admin key {ADMIN_KEY})\n"
        f"  metrics : {admin_url}metrics\n"
        if admin_url
        else ""
    )
    attack_admin = f" CPRAGATE_DEMO_ADMIN_PORT={admin_url.rstrip('/').rsplit(':', 1)[1]}" if admin_url else ""
    return f"""
  cpragate demo is running
  ------------------------
  gateway : {base}   (TLS 1.2+, HSTS; mTLS optional with the partner certificate)
  demo API: https://127.0.0.1:{api_port}  (reachable only with the gateway's client certificate)
{dash}  state   : {state}

  Two consumers call with demo API keys (see the demo policy):
    support-app        service_provider, tenant t1, reads customers, orders and tickets
    marketing-partner  third_party, tenant t3, reads orders only

  Try (copy and paste):

    curl --cacert {ca} -H 'x-api-key: {SUPPORT_KEY}' {base}/v1/customers/42
    curl --cacert {ca} -H 'x-api-key: {SUPPORT_KEY}' '{base}/v1/customers?limit=2'
    curl --cacert {ca} -i -H 'x-api-key: {SUPPORT_KEY}' {base}/v1/orders/10005
    curl --cacert {ca} -i -H 'x-api-key: {MARKETING_KEY}' {base}/v1/orders/10005   # BOLA: another tenant's order, 404
    curl --cacert {ca} -i -H 'x-api-key: {MARKETING_KEY}' {base}/v1/orders/10001   # its own tenant's order
    curl --cacert {ca} -i -H 'x-api-key: {MARKETING_KEY}' {base}/v1/customers/42   # BFLA: no customers:read, 403
    curl --cacert {ca} -i {base}/v1/customers/42     # no credentials: 401
    curl --cacert {ca} -i {base}/v1/admin            # not routed: refused, never forwarded
    curl --cacert {ca} -i '{base}/v1/customers/42/..%2f..%2fadmin'   # non-canonical path: refused
    curl --cacert {ca} --cert {state / "partner.pem"} --key {state / "partner-key.pem"} {base}/v1/tickets/50001
    curl --cacert {ca} -X POST -H 'x-api-key: {SUPPORT_KEY}' -H 'content-type: application/json' \\
         -d '{{"customer_id": 42, "body": "please delete my data"}}' {base}/v1/tickets

  Set off the detectors (scraping, enumeration, credential stuffing; alerts in the log and
  on the dashboard), from a cpragate checkout:

    CPRAGATE_DEMO_PORT={port} CPRAGATE_DEMO_STATE={state}{attack_admin} bash examples/attack.sh

  Stop with Ctrl-C.
"""


async def start_demo_api(pki: DevPki, api_port: int, avoid: int) -> OriginServer:
    """Start the demo API; an ephemeral port never takes `avoid`, the port the gateway binds next.

    The kernel may hand out, for port 0, a port another process (a test's free_port()) picked, checked
    and let go a moment ago as the gateway's: the gateway then fails with "address in use" at random.
    """
    api = await OriginServer(DemoApi(), ssl_context=api_ssl_context(pki)).start("127.0.0.1", api_port)
    if api_port == 0 and avoid != 0 and api.port == avoid:
        other = await OriginServer(DemoApi(), ssl_context=api_ssl_context(pki)).start("127.0.0.1", 0)
        await api.close()  # after `other` holds a different port, so the kernel cannot hand `avoid` out again
        api = other
    return api


async def _demo(state: Path, port: int, api_port: int, duration: float | None, ready: asyncio.Future[None] | None) -> None:
    pki = ensure_dev_pki(state)
    api = await start_demo_api(pki, api_port, avoid=port)
    admin_bind = f"127.0.0.1:{ADMIN_PORT}" if _port_free(ADMIN_PORT) else "127.0.0.1:0"  # busy: any free port
    cfg = demo_config(state, f"127.0.0.1:{port}", f"https://127.0.0.1:{api.port}", admin_bind)
    setup_logging(cfg.logging.level)
    loop = asyncio.get_running_loop()
    stores = await open_default_stores(cfg)
    gw = Gateway(cfg, loop, stores=stores)
    await gw.start()
    print(banner(gw.bound_ports()[0], state, api.port, gw.admin.url if gw.admin is not None else None), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set_result(None)
    try:
        if duration is not None:
            await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    except TimeoutError:
        pass
    print("\n  stopping: draining in-flight requests…", flush=True)
    await gw.stop(drain_timeout=5)
    await api.close()
    print("  stopped cleanly.", flush=True)


def run_demo(state_dir: str = ".cpragate-demo", port: int = 8443, api_port: int = 0, duration: float | None = None, prepare_only: bool = False) -> int:
    state = Path(state_dir).resolve()
    if prepare_only:
        ensure_dev_pki(state)
        print(f"demo certificates ready in {state}")
        return 0
    if port and not _port_free(port):
        print(f"port {port} is in use; choose another with `cpragate demo --port N`", file=sys.stderr)
        return 2
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_demo(state, port, api_port, duration, None))
    finally:
        loop.close()
    return 0
