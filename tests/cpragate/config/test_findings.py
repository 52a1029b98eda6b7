from pathlib import Path

from cpragate.config import load_config_text
from cpragate.config.findings import findings


def test_findings_flag_weak_settings() -> None:
    cfg = load_config_text(
        """
listeners: [{bind: "127.0.0.1:1"}]
upstreams:
  a: {url: "http://a", allow_plaintext: true}
  b: {url: "https://b", tls: {verify: false}}
routes:
  - {path: /a, upstream: a, on_body_too_large: pass_uninspected}
"""
    )
    f = findings(cfg)
    assert any("plaintext" in x for x in f)
    assert any("verification is off" in x for x in f)
    assert any("plain HTTP listener" in x for x in f)
    assert any("uninspected" in x for x in f)


def test_findings_flag_bodies_the_pii_filter_passes_unread() -> None:
    base = """
listeners: [{bind: "127.0.0.1:1"}]
upstreams: {a: {url: "https://a"}}
"""
    assert not [x for x in findings(load_config_text(base + "routes: [{path: /a, upstream: a, personal: true}]\n")) if "pii" in x]
    cfg = load_config_text(
        base
        + """routes:
  - {path: /a, upstream: a, personal: true, pii: {pass_types: [image/png]}}
filters: {pii: {pass_types: ["application/pdf"], text: false}}
"""
    )
    f = [x for x in findings(cfg) if "pii" in x]
    assert f == [
        "filters.pii.pass_types: application/pdf bodies pass uninspected on inspected routes",
        "filters.pii.text: false — text and XML responses pass uninspected on inspected routes",
        "routes[0] (/a): pii.pass_types image/png bodies pass uninspected",
    ]
    off = load_config_text(base + "routes: [{path: /a, upstream: a}]\nfilters: {pii: {enabled: false, pass_types: [image/png]}}\n")
    assert not [x for x in findings(off) if "pii" in x]


def test_findings_flag_a_remote_admin_listener_without_tls() -> None:
    base = """
listeners: [{bind: "127.0.0.1:1", tls: {cert_file: c, key_file: k}}]
upstreams: {a: {url: "https://a"}}
routes: [{path: /a, upstream: a}]
"""
    key = '{name: ops, sha256: "' + "a" * 64 + '"}'
    remote = load_config_text(base + f"admin: {{bind: '0.0.0.0:9901', allow_remote_plaintext: true, keys: [{key}]}}\n")
    assert [x for x in findings(remote) if x.startswith("admin")] == [
        "admin (0.0.0.0:9901): admin listener on a non-loopback address without TLS — admin keys travel in clear"
    ]
    local = load_config_text(base + f"admin: {{keys: [{key}]}}\n")
    assert not [x for x in findings(local) if x.startswith("admin")]


def _secret_config(key: str) -> str:
    return f"""
listeners: [{{bind: "127.0.0.1:1"}}]
upstreams: {{a: {{url: "https://a"}}}}
routes: [{{path: /a, upstream: a}}]
filters:
  authn:
    consumers: [{{name: app, purpose: service_provider}}]
    api_keys: {{hash_secret: "{key}"}}
"""


def _secret_findings(key: str, env: dict[str, str] | None = None) -> list[str]:
    return [x for x in findings(load_config_text(_secret_config(key), env=env or {})) if "secret written" in x]


def test_findings_flag_a_secret_written_in_the_file(tmp_path: Path) -> None:
    f = _secret_findings("literal-" + "s" * 32)
    assert len(f) == 1 and f[0].startswith("filters.authn.api_keys.hash_secret: ")
    assert "s" * 32 not in f[0]  # the finding names the key path, never the value
    # A default written after ":-" is in the file all the same.
    assert len(_secret_findings("${NOT_SET_ANYWHERE:-fallback-" + "d" * 32 + "}")) == 1


def test_findings_accept_secrets_read_from_env_or_file(tmp_path: Path) -> None:
    assert _secret_findings("${HASH_SECRET}", env={"HASH_SECRET": "e" * 40}) == []
    assert _secret_findings("prefix-${HASH_SECRET}", env={"HASH_SECRET": "e" * 40}) == []
    secret = tmp_path / "hash.secret"
    secret.write_text("f" * 40 + "\n")
    assert _secret_findings(f"file:{secret}") == []
