"""SQLite specifics; the behaviour shared with PostgreSQL is tests/contract/test_audit_sinks.py."""

import os
from pathlib import Path

import pytest

from cpragate.errors import AuditSinkError
from cpragate.storage.audit_sqlite import SqliteAuditSink


def test_wal_and_private_file(tmp_path: Path) -> None:
    s = SqliteAuditSink(str(tmp_path / "sub" / "a.db"))
    try:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert oct(os.stat(tmp_path / "sub" / "a.db").st_mode & 0o777) == "0o600"
    finally:
        s.close()


def test_unopenable(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(AuditSinkError):
        SqliteAuditSink(str(tmp_path / "f" / "a.db"))
