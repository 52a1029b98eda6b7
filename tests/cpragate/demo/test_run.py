import asyncio
from pathlib import Path

import pytest

from cpragate.demo.run import banner, demo_config, policy_text, run_demo


def test_demo_policy_loads_with_env(tmp_path: Path) -> None:
    assert "${CPRAGATE_DEMO_UPSTREAM" in policy_text()
    cfg = demo_config(tmp_path, "127.0.0.1:8443", "https://127.0.0.1:9443")
    assert cfg.upstreams["demo-api"].url == "https://127.0.0.1:9443"
    assert cfg.listeners[0].tls is not None and cfg.listeners[0].tls.client_auth == "optional"
    assert any(r.personal for r in cfg.routes)


def test_demo_config_takes_another_policy_text(tmp_path: Path) -> None:
    # The benchmarks load a copy of the demo policy with its request rates raised.
    text = policy_text().replace("per_consumer: {rate: 10000,", "per_consumer: {rate: 123456,")
    assert text != policy_text()
    cfg = demo_config(tmp_path, "127.0.0.1:8443", "https://127.0.0.1:9443", text=text)
    assert cfg.filters.ratelimit.per_consumer.rate == 123456
    assert demo_config(tmp_path, "127.0.0.1:8443", "https://127.0.0.1:9443").filters.ratelimit.per_consumer.rate == 10000


def test_banner_has_curl_commands(tmp_path: Path) -> None:
    text = banner(8443, tmp_path, 9443)
    assert text.count("curl --cacert") >= 5 and "https://localhost:8443/v1/customers/42" in text


def test_prepare_only(tmp_path: Path) -> None:
    assert run_demo(str(tmp_path / "d"), prepare_only=True) == 0
    assert (tmp_path / "d" / "ca.pem").exists()


def test_demo_api_never_takes_the_gateways_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel handed the demo API, started on port 0, the very port the gateway was about to bind
    # (CI saw "address in use" from the demo once). Faked here: the first ephemeral bind gets it.
    from cpragate.demo import run
    from cpragate.demo.certs import ensure_dev_pki
    from cpragate.server.origin import OriginServer

    pki = ensure_dev_pki(tmp_path)
    real_start = OriginServer.start
    calls: list[int] = []

    async def start(self: OriginServer, host: str = "127.0.0.1", port: int = 0) -> OriginServer:
        await real_start(self, host, port)
        calls.append(self.port)
        return self

    async def go() -> None:
        monkeypatch.setattr(OriginServer, "start", start)
        first = await run.start_demo_api(pki, 0, avoid=0)
        taken = first.port
        await first.close()
        # Now ask it to avoid the port the next ephemeral bind is likely to get: force that by asking
        # for `taken` explicitly through a wrapper that maps port 0 to it once.
        once = [taken]

        async def start_once(self: OriginServer, host: str = "127.0.0.1", port: int = 0) -> OriginServer:
            return await start(self, host, once.pop() if (port == 0 and once) else port)

        monkeypatch.setattr(OriginServer, "start", start_once)
        api = await run.start_demo_api(pki, 0, avoid=taken)
        try:
            assert api.port != taken and api.port != 0
            assert calls[-2:] == [taken, api.port]  # it got the gateway's port first, then let it go
        finally:
            await api.close()
        # An explicit api port is the user's choice: kept even when it equals the gateway's (the gateway reports it).
        api2 = await run.start_demo_api(pki, taken, avoid=taken)
        assert api2.port == taken
        await api2.close()

    asyncio.run(go())
