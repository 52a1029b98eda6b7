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
