from pathlib import Path

import pytest

from cpragate.errors import AuditSinkError
from cpragate.storage.audit_sink import AuditSink, open_sink
from cpragate.storage.audit_sqlite import SqliteAuditSink


def test_open_sink_by_url(tmp_path: Path) -> None:
    s = open_sink(f"sqlite:///{tmp_path}/a.db", "custom_1")
    try:
        assert isinstance(s, SqliteAuditSink) and isinstance(s, AuditSink) and s.p == "custom_1"
    finally:
        s.close()


@pytest.mark.parametrize(("url", "prefix"), [("redis://x", "audit"), ("sqlite:///x.db", "1bad"), ("sqlite:///x.db", "a;b")])
def test_refused(url: str, prefix: str) -> None:
    with pytest.raises(AuditSinkError):
        open_sink(url, prefix)
