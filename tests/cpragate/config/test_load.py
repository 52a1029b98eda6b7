"""Config loading: every problem reported at once, with file:line, key path and fix."""

from pathlib import Path

import pytest

from cpragate.config import load_config, load_config_text
from cpragate.errors import ConfigError, ConfigFileError, ConfigSecretError

GOOD = """
listeners:
  - bind: "127.0.0.1:8443"
upstreams:
  api:
    url: "https://api.internal:8443/base"
routes:
  - path: /v1/customers/{id}
    upstream: api
"""


def test_good_config_and_defaults() -> None:
    cfg = load_config_text(GOOD)
    assert cfg.routes[0].methods == ["GET", "HEAD"]
    assert cfg.upstreams["api"].url == "https://api.internal:8443/base"
    assert cfg.filters.security_headers.hsts_max_age == 31536000


def test_all_errors_listed_with_lines() -> None:
    text = """listeners:
  - bind: "nope"
    tlss: {}
upstreams:
  api:
    url: "http://x"
routes:
  - path: "/a/{id"
    upstream: api
    methods: [FETCH]
"""
    with pytest.raises(ConfigError) as e:
        load_config_text(text, "gw.yaml")
    msg = str(e.value)
    assert e.value.code == "CPG-CFG-001"
    assert "gw.yaml:2 listeners[0].bind" in msg
    assert "gw.yaml:3 listeners[0].tlss: unknown key" in msg
    assert "gw.yaml:6 upstreams.api.url" in msg or "gw.yaml:5 upstreams.api" in msg
    assert "gw.yaml:8 routes[0].path" in msg
    assert "routes[0].methods" in msg
    assert "Fix:" in msg


def test_reference_errors() -> None:
    text = GOOD.replace("upstream: api", "upstream: other")
    with pytest.raises(ConfigError, match=r"g.yaml:9 routes\[0\].upstream: route /v1/customers/\{id\} names upstream 'other'"):
        load_config_text(text, "g.yaml")
    with pytest.raises(ConfigError, match="unknown filter 'nope'"):
        load_config_text(GOOD + "    filters: [nope]\n")


def test_route_conflict_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        load_config_text(GOOD + "  - path: /v1/customers/{id}\n    upstream: api\n")


def test_env_and_file_references(tmp_path: Path) -> None:
    secret = tmp_path / "bind.txt"
    secret.write_text("127.0.0.1:9000\n")
    text = GOOD.replace('"127.0.0.1:8443"', f'"file:{secret}"').replace("api.internal", "${API_HOST}")
    cfg = load_config_text(text, env={"API_HOST": "svc.local"})
    assert cfg.listeners[0].bind == "127.0.0.1:9000"
    assert cfg.upstreams["api"].url.startswith("https://svc.local")
    cfg2 = load_config_text(GOOD.replace("api.internal", "${API_HOST:-dflt.local}"), env={})
    assert "dflt.local" in cfg2.upstreams["api"].url


def test_missing_env_and_file_never_echo_values(tmp_path: Path) -> None:
    text = GOOD.replace("api.internal", "${NOPE_VAR}").replace('"127.0.0.1:8443"', f'"file:{tmp_path}/missing"')
    with pytest.raises(ConfigSecretError) as e:
        load_config_text(text, "g.yaml", env={})
    msg = str(e.value)
    assert "NOPE_VAR is not set" in msg and "secret file cannot be read" in msg
    assert "g.yaml:" in msg


def test_secret_values_not_in_errors() -> None:
    text = GOOD.replace('url: "https://api.internal:8443/base"', 'url: "${U}"')
    with pytest.raises(ConfigError) as e:
        load_config_text(text, env={"U": "ftp://user:hunter2@host"})
    assert "hunter2" not in str(e.value)


@pytest.mark.parametrize(("text", "needle"), [("", "is empty"), ("[1, 2]", "top level must be a mapping"), ("a: [", "gw.yaml:")])
def test_file_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigFileError, match=needle):
        load_config_text(text, "gw.yaml")


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "ok.yaml"
    p.write_text(GOOD)
    assert load_config(p).routes[0].upstream == "api"


def test_errors_never_show_a_value_read_from_env_or_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "bind.txt"
    secret_file.write_text("file-secret-9f8e7d\n")
    text = (
        'listeners: [{bind: "${CPG_BIND}"}, {bind: "file:' + str(secret_file) + '"}]\n'
        'upstreams: {o: {url: "${CPG_UP}"}}\n'
        "routes: [{path: /a, upstream: o}]\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config_text(text, "gw.yaml", env={"CPG_BIND": "env-secret-1a2b3c", "CPG_UP": "not-a-url-secret"})
    msg = str(e.value)
    assert "listeners[0].bind" in msg and "listeners[1].bind" in msg and "upstreams.o.url" in msg  # still located
    for secret in ("env-secret-1a2b3c", "file-secret-9f8e7d", "not-a-url-secret"):
        assert secret not in msg
    assert "<redacted" in msg
