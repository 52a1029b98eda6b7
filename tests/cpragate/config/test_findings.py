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
