from pathlib import Path

from cpragate.demo.run import banner, demo_config, policy_text, run_demo


def test_demo_policy_loads_with_env(tmp_path: Path) -> None:
    assert "${CPRAGATE_DEMO_UPSTREAM" in policy_text()
    cfg = demo_config(tmp_path, "127.0.0.1:8443", "https://127.0.0.1:9443")
    assert cfg.upstreams["demo-api"].url == "https://127.0.0.1:9443"
    assert cfg.listeners[0].tls is not None and cfg.listeners[0].tls.client_auth == "optional"
    assert any(r.personal for r in cfg.routes)


def test_banner_has_curl_commands(tmp_path: Path) -> None:
    text = banner(8443, tmp_path, 9443)
    assert text.count("curl --cacert") >= 5 and "https://localhost:8443/v1/customers/42" in text


def test_prepare_only(tmp_path: Path) -> None:
    assert run_demo(str(tmp_path / "d"), prepare_only=True) == 0
    assert (tmp_path / "d" / "ca.pem").exists()
