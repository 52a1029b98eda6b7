import asyncio
from pathlib import Path

from cpragate.config import load_config_text
from cpragate.core.filter import FilterContext
from cpragate.server.gateway import Gateway, Runtime, build_filters, state_dir

CFG = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "https://api.internal", timeouts: {read: 7}}}
routes:
  - {path: /a, upstream: o, filters: []}
  - {path: /b, upstream: o, read_timeout: 2}
trusted_proxies: ["10.0.0.0/8"]
filters: {cors: {enabled: false}}
storage: {url: "memory://"}
"""


def test_runtime_builds_routes_pipelines_and_trust() -> None:
    async def t() -> None:
        rt = Runtime(load_config_text(CFG), asyncio.get_running_loop())
        a, b = rt.routes
        assert a.pipeline is not None and a.pipeline.names == []
        assert b.pipeline is not None and b.pipeline.names == ["security_headers"]  # cors disabled
        assert (a.read_timeout, b.read_timeout) == (7, 2)
        assert rt.is_trusted("10.1.2.3") and not rt.is_trusted("11.0.0.1") and not rt.is_trusted("garbage")
        assert [f.name for f in rt.fallback.filters] == ["security_headers"]

    asyncio.run(t())


def test_build_filters_respects_enabled() -> None:
    cfg = load_config_text(CFG)
    # pii, validation, conformance and minimize are on by default: each applies only to the
    # routes that ask for it (personal, bound to an OpenAPI operation, with minimize rules).
    # authn/authz/rate limits are on but inert until credentials, rules or limits are configured.
    identity = {"ratelimit_ip", "authn", "authz", "ratelimit", "owner_check"}
    assert set(build_filters(cfg, FilterContext())) - {"audit"} == {
        "security_headers", "pii", "validation", "conformance", "minimize", *identity
    }


def test_reload_refuses_bad_file_and_keeps_runtime(tmp_path: Path) -> None:
    async def t() -> None:
        p = tmp_path / "gw.yaml"
        p.write_text(CFG)
        gw = Gateway(load_config_text(CFG), asyncio.get_running_loop(), config_path=str(p))
        old = gw.runtime
        p.write_text("listeners: []")
        assert gw.reload() is False and gw.runtime is old
        p.write_text(CFG.replace("/b", "/c"))
        assert gw.reload() is True and gw.runtime is not old
        assert [r.template for r in gw.runtime.routes] == ["/a", "/c"]
        await gw.stop(0)

    asyncio.run(t())


def test_state_dir_resolution(tmp_path: Path) -> None:
    cfg = load_config_text(CFG)
    assert state_dir(cfg) == Path(".cpragate")
    assert state_dir(cfg, tmp_path) == tmp_path / ".cpragate"
