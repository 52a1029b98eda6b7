import pytest
from pydantic import ValidationError

from cpragate.filters.audit.config import AuditConfig, AuditRouteSettings, parse_json_path


@pytest.mark.parametrize(
    ("path", "steps"),
    [("$.customer_id", ("customer_id",)), ("$.items[*].id", ("items", None, "id")), ("$[0]['a b']", (0, "a b")), ("$", ())],
)
def test_json_paths(path: str, steps: tuple[object, ...]) -> None:
    assert parse_json_path(path) == steps


@pytest.mark.parametrize("bad", ["customer_id", "$.", "$[x]", "$.a[", "$a"])
def test_bad_json_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_json_path(bad)
    with pytest.raises(ValidationError):
        AuditRouteSettings(subject_json=[bad])


def test_defaults() -> None:
    c = AuditConfig()
    assert not c.enabled and c.required and c.sink.startswith("sqlite:///") and c.retention_days == 730
    assert c.spool.fsync_window_ms == 20


@pytest.mark.parametrize(
    "bad",
    [{"sink": "redis://x"}, {"table_prefix": "1x"}, {"table_prefix": "a;drop"}, {"spool": {"max_bytes": 100}},
     {"spool": {"max_bytes": 65536, "segment_bytes": 131072}}, {"unknown": 1}],
)
def test_bad_configs(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AuditConfig.model_validate(bad)


def test_signing_key_is_secret() -> None:
    c = AuditConfig(signing_key="abc")  # type: ignore[arg-type]
    assert "abc" not in repr(c)
