from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpragate.admin.config import AdminConfig, is_loopback_bind

H = "a" * 64


def cfg(**kw: object) -> AdminConfig:
    return AdminConfig.model_validate({"keys": [{"name": "ops", "sha256": H}], **kw})


def test_defaults_loopback() -> None:
    c = cfg()
    assert c.bind == "127.0.0.1:9901" and c.keys[0].role == "read_only" and c.metrics_auth == "loopback_open"


@pytest.mark.parametrize(("bind", "loop"), [("127.0.0.1:1", True), ("[::1]:1", True), ("localhost:1", True),
                                            ("0.0.0.0:1", False), ("10.1.2.3:1", False), ("admin.example:1", False)])
def test_loopback(bind: str, loop: bool) -> None:
    assert is_loopback_bind(bind) is loop


def test_remote_bind_needs_tls_or_explicit_consent() -> None:
    with pytest.raises(ValidationError, match=r"admin\.tls"):
        cfg(bind="0.0.0.0:9901")
    assert cfg(bind="0.0.0.0:9901", allow_remote_plaintext=True).allow_remote_plaintext
    assert cfg(bind="0.0.0.0:9901", tls={"cert_file": "c.pem", "key_file": "k.pem"}).tls is not None


@pytest.mark.parametrize(
    "key",
    [
        {"name": "x"},  # neither key nor hash
        {"name": "x", "key": "short"},
        {"name": "x", "sha256": "ABC"},
        {"name": "bad name", "sha256": H},
        {"name": "x", "sha256": H, "role": "root"},
        {"name": "x", "sha256": H, "key": "k" * 30},
    ],
)
def test_bad_keys(key: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        AdminConfig.model_validate({"keys": [key]})


def test_duplicate_names_and_no_keys() -> None:
    with pytest.raises(ValidationError, match="same name"):
        AdminConfig.model_validate({"keys": [{"name": "a", "sha256": H}, {"name": "a", "sha256": "b" * 64}]})
    with pytest.raises(ValidationError):
        AdminConfig.model_validate({"keys": []})


def test_key_is_secret_in_dumps() -> None:
    c = AdminConfig.model_validate({"keys": [{"name": "a", "key": "k" * 30}]})
    assert "k" * 30 not in repr(c) and "k" * 30 not in c.model_dump_json()


def test_detokenize_role_and_limits() -> None:
    c = AdminConfig.model_validate({"keys": [{"name": "desk", "sha256": H, "role": "detokenize"}],
                                    "detokenize": {"max_batch": 10}})
    assert c.keys[0].role == "detokenize" and c.detokenize.max_batch == 10 and c.detokenize.max_failures == 20
    with pytest.raises(ValueError, match="max_batch"):
        AdminConfig.model_validate({"keys": [{"name": "d", "sha256": H}], "detokenize": {"max_batch": 0}})
    with pytest.raises(ValueError, match="max_batches"):
        AdminConfig.model_validate({"keys": [{"name": "d", "sha256": H}], "detokenize": {"max_batches": 5}})


def test_the_same_key_under_two_entries_is_refused_naming_both() -> None:
    import hashlib

    key = "k" * 30
    with pytest.raises(ValidationError, match=r"'ops' \(role admin\) and 'desk' \(role detokenize\) are the same key") as e:
        AdminConfig.model_validate({"keys": [{"name": "ops", "role": "admin", "key": key},
                                             {"name": "desk", "role": "detokenize",
                                              "sha256": hashlib.sha256(key.encode()).hexdigest()}]})
    assert key not in str(e.value)
    with pytest.raises(ValidationError, match="same key"):
        AdminConfig.model_validate({"keys": [{"name": "a", "sha256": H}, {"name": "b", "role": "metrics", "sha256": H}]})
