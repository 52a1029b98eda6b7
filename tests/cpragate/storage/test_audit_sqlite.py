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


def test_new_subject_keys_commit_together_and_existing_keys_are_kept(tmp_path: Path) -> None:
    s = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        first = s.subject_keys(["a"], create=True)
        changes = s.db.total_changes
        keys = s.subject_keys(["a", "b", "c"], create=True)
        assert s.db.total_changes - changes == 2 and not s.db.in_transaction  # b and c, committed
        assert keys["a"] == first["a"] and len({keys["a"], keys["b"], keys["c"]}) == 3
        assert all(type(k) is bytes and len(k) == 32 for k in keys.values())
        assert s.db.execute("SELECT DISTINCT typeof(key) FROM audit_subject_keys").fetchall() == [("blob",)]
        assert s.subject_keys(["d"], create=False) == {}
    finally:
        s.close()


def test_event_bodies_are_stored_as_blobs(tmp_path: Path) -> None:
    from cpragate.storage.audit_sink import EventRow, InstanceState

    s = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        rows = [EventRow("i", n, n, 1.0, None, None, "allow", "served", 200, ("s_x",), b'{"n":%d}' % n, "p", "h")
                for n in (1, 2, 3)]
        s.write(rows, InstanceState("i", 3, "h", 0), 0, [])
        got = s.db.execute("SELECT typeof(body), body FROM audit_events ORDER BY seq").fetchall()
        assert got == [("blob", b'{"n":1}'), ("blob", b'{"n":2}'), ("blob", b'{"n":3}')]
        assert [r[3] for r in s.chain("i")] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    finally:
        s.close()


def test_rows_of_several_instances_keep_their_instance_and_subjects(tmp_path: Path) -> None:
    from cpragate.storage.audit_sink import EventRow, InstanceState

    s = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        rows = [EventRow(inst, n, n, float(n), "c", "/r", "allow", "served", 200, subj, b"{}", "p", f"h{n}")
                for inst, n, subj in (("a", 1, ("s_1",)), ("b", 1, ()), ("a", 2, ("s_2", "s_3")), ("b", 2, ("s_4",)))]
        s.write(rows, InstanceState("a", 2, "h2", 0), 0, [])
        got = s.db.execute("SELECT instance_id, seq, ts, hash FROM audit_events ORDER BY instance_id, seq").fetchall()
        assert got == [("a", 1, 1.0, "h1"), ("a", 2, 2.0, "h2"), ("b", 1, 1.0, "h1"), ("b", 2, 2.0, "h2")]
        subj = s.db.execute("SELECT pseudonym, instance_id, seq, ts FROM audit_subjects ORDER BY pseudonym").fetchall()
        assert subj == [("s_1", "a", 1, 1.0), ("s_2", "a", 2, 2.0), ("s_3", "a", 2, 2.0), ("s_4", "b", 2, 2.0)]
    finally:
        s.close()
