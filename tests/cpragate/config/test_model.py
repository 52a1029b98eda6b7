import pytest
from pydantic import ValidationError

from cpragate.config.model import (
    GatewayConfig,
    Listener,
    ListenerTls,
    Route,
    StorageConfig,
    Upstream,
    UpstreamTls,
)


def test_plaintext_upstream_needs_opt_in() -> None:
    with pytest.raises(ValidationError, match="allow_plaintext"):
        Upstream(url="http://a")
    assert Upstream(url="http://a", allow_plaintext=True).url == "http://a"


@pytest.mark.parametrize("url", ["ftp://a", "https://", "https://u:p@a", "https://a?x=1"])
def test_bad_upstream_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        Upstream(url=url)


def test_mtls_needs_ca_and_pairs() -> None:
    with pytest.raises(ValidationError, match="client_ca_file"):
        ListenerTls(cert_file="c", key_file="k", client_auth="required")
    with pytest.raises(ValidationError, match="go together"):
        UpstreamTls(cert_file="c")


def test_redirect_listener_rules() -> None:
    with pytest.raises(ValidationError):
        Listener(bind="127.0.0.1:80", redirect_to_https="http://x")
    with pytest.raises(ValidationError):
        Listener(bind="127.0.0.1:80", redirect_to_https="https://x", tls=ListenerTls(cert_file="c", key_file="k"))
    assert Listener(bind="[::1]:80", redirect_to_https="https://x").bind == "[::1]:80"


def test_route_methods_and_storage() -> None:
    assert Route(path="/a", upstream="u", methods=["get", "*"]).methods == ["GET", "*"]
    with pytest.raises(ValidationError):
        Route(path="/a", upstream="u", methods=[])
    with pytest.raises(ValidationError):
        StorageConfig(url="mysql://x")


def test_trusted_proxies_and_duplicate_binds() -> None:
    base = dict(upstreams={"u": {"url": "https://a"}}, routes=[{"path": "/a", "upstream": "u"}])
    with pytest.raises(ValidationError, match="not an IP address"):
        GatewayConfig.model_validate({**base, "listeners": [{"bind": "127.0.0.1:1"}], "trusted_proxies": ["x"]})
    with pytest.raises(ValidationError, match="same HOST:PORT"):
        GatewayConfig.model_validate({**base, "listeners": [{"bind": "127.0.0.1:1"}, {"bind": "127.0.0.1:1", "name": "b"}]})


def test_json_schema_is_generated() -> None:
    s = GatewayConfig.model_json_schema()
    assert "listeners" in s["properties"] and s["additionalProperties"] is False
