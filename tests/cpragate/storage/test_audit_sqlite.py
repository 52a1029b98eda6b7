"""SQLite specifics; the behaviour shared with PostgreSQL is tests/contract/test_audit_sinks.py."""

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from cpragate.errors import AuditSinkError
from cpragate.storage import audit_sqlite
from cpragate.storage.audit_sink import EventRow, InstanceState, SearchQuery
from cpragate.storage.audit_sqlite import SqliteAuditSink


def test_wal_and_private_file(tmp_path: Path) -> None:
    s = SqliteAuditSink(str(tmp_path / "sub" / "a.db"))
    try:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert oct(os.stat(tmp_path / "sub" / "a.db").st_mode & 0o777) == "0o600"
    finally:
        s.close()


def test_the_writing_connection_keeps_statement_journals_in_memory_and_syncs_each_commit(tmp_path: Path) -> None:
    """The writer's batches: statement journals in memory (temp_store 2: on disk they cost a
    write syscall per changed page, beside the WAL's) and the WAL synced at each commit
    (synchronous FULL: the spool's records are dropped once ``write`` returns). A sink that
    only reads (searches, verify) keeps the defaults: its sorts may spill to disk."""
    s = SqliteAuditSink(str(tmp_path / "a.db"))
    reader = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        # a batch big enough that an on-disk statement journal would spill (> 64 KiB)
        rows = [EventRow("i", n, n, 1.0, "c", "/r", "allow", "served", 200, (f"s_{n % 7}",), b"x" * 900, "p", "h")
                for n in range(1, 2001)]
        s.write(rows, InstanceState("i", 2000, "h", 0), 0, [])
        assert s.db.execute("PRAGMA temp_store").fetchone()[0] == 2
        assert s.db.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert reader.db.execute("PRAGMA temp_store").fetchone()[0] == 0
        assert reader.db.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert reader.db.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2000
    finally:
        reader.close()
        s.close()


def test_the_checkpointer_spaces_its_checkpoints_and_still_copies_the_last_batch(tmp_path: Path) -> None:
    """Batches written within one spacing share a checkpoint, and the last batch reaches the
    database file itself (read from a copy of the file without its WAL)."""
    path = tmp_path / "a.db"
    s = SqliteAuditSink(str(path))
    s.checkpoint_spacing = 0.3
    try:
        t0 = time.monotonic()
        for b in range(20):
            rows = [EventRow("i", b * 10 + n, b * 10 + n, 1.0, None, None, "allow", "served", 200, (), b"{}", "p", "h")
                    for n in range(1, 11)]
            s.write(rows, InstanceState("i", b * 10 + 10, "h", 0), b * 10, [])
        elapsed = time.monotonic() - t0
        copy = tmp_path / "copy.db"

        def in_file() -> int:
            shutil.copyfile(path, copy)  # the database file alone: no -wal beside it
            with sqlite3.connect(copy) as c:
                return int(c.execute("SELECT count(*) FROM audit_events").fetchone()[0])

        deadline = time.monotonic() + 5
        while in_file() < 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # the checkpointer's next checkpoint copies the last batches
        assert in_file() == 200
        assert 1 <= s.wal_checkpoints <= 2 + int((time.monotonic() - t0) / 0.3)  # not one per batch (20)
        assert elapsed < 5
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


@pytest.mark.parametrize("n", [1, 2, 3, 5, 511, 512, 513, 1100])
def test_subject_keys_of_any_count_come_back_once_each_with_few_statement_texts(tmp_path: Path, n: int) -> None:
    s = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        lookups = [f"lk{i:05d}" for i in range(n)]
        made = s.subject_keys(lookups, create=True)
        assert sorted(made) == lookups  # the padding's repeats add nothing
        half = s.subject_keys(lookups[: n // 2 + 1], create=False)
        assert half == {k: made[k] for k in lookups[: n // 2 + 1]}
        traced: list[str] = []
        s.db.set_trace_callback(traced.append)
        for m in range(1, 40):
            s.subject_keys([f"x{i}" for i in range(m)], create=False)
        lengths = {t.count("'x") for t in traced if " IN (" in t}  # the trace shows the bound values
        assert lengths == {1, 2, 4, 8, 16, 32, 64}  # 39 counts, 7 lengths (texts): powers of two only
    finally:
        s.close()


def test_event_bodies_are_stored_as_blobs(tmp_path: Path) -> None:

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


@pytest.mark.parametrize("inst", ["gw-0", "o'brien-1", "'; DROP TABLE audit_events; --", "ünï ☃-2", "?-3", "nul\x00id-4"])
def test_the_instance_id_written_as_a_literal_is_stored_exactly(tmp_path: Path, inst: str) -> None:
    """The writer's rows name the instance in the statement's text (not bound per row): the
    stored values are the same as binding every value, whatever the id holds (quotes, SQL,
    unicode, a NUL: bound instead)."""

    rows = [EventRow(inst, n, n << 32, n + 0.5, "c" if n % 2 else None, "/r/{id}", "allow", "served",
                     200 if n % 3 else None, tuple(f"s_{n}_{k}" for k in range(n % 3)), b'{"n":%d}' % n, f"p{n}", f"h{n}")
            for n in range(1, 40)]
    s = SqliteAuditSink(str(tmp_path / "a.db"))
    try:
        s.write(rows, InstanceState(inst, 39, "h39", 0), 0, [])
        ev = s.db.execute("SELECT *, typeof(instance_id) FROM audit_events ORDER BY rowid").fetchall()
        assert ev == [(inst, r.seq, r.bkey, r.ts, r.consumer, r.route, r.decision, r.outcome, r.status, r.body,
                       r.prev, r.hash, "text") for r in rows]
        subj = s.db.execute("SELECT *, typeof(instance_id) FROM audit_subjects ORDER BY rowid").fetchall()
        assert subj == [(p, inst, r.seq, r.ts, "text") for r in rows for p in r.subjects]
        assert [c[0] for c in s.chain(inst)] == list(range(1, 40))
        assert s.state(inst).head_seq == 39
    finally:
        s.close()


def _pragma(db: sqlite3.Connection, name: str) -> int:
    return int(db.execute(f"PRAGMA {name}").fetchone()[0])


def test_new_databases_get_16k_pages_and_existing_ones_keep_theirs(tmp_path: Path) -> None:
    """A new file gets 16 KiB pages (a quarter as many WAL frames per batch), its writer's
    self-checkpoint bound stays 16 MiB of WAL; a file made before (4 KiB pages, as SQLite's
    default made every audit database until session 13) is opened, written and read as it
    is, and both answer the same reads for the same rows."""
    old_path = tmp_path / "old.db"
    c = sqlite3.connect(old_path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.executescript(audit_sqlite._SCHEMA.format(p="audit"))  # what the sink made before
    c.close()
    old, new = SqliteAuditSink(str(old_path)), SqliteAuditSink(str(tmp_path / "new.db"))
    try:
        assert (_pragma(old.db, "page_size"), _pragma(old.db, "wal_autocheckpoint")) == (4096, 4096)
        assert (_pragma(new.db, "page_size"), _pragma(new.db, "wal_autocheckpoint")) == (16384, 1024)
        for s in (old, new):
            head = 0
            for b in range(5):  # several batches, bodies past one page of either size
                rows = [EventRow("gw", n, n * 7, 100.0 + n / 3, f"c{n % 3}", f"/r/{n % 4}", "allow",
                                 "served" if n % 5 else "refused", 200, (f"s_{n % 6}",) * (n % 3),
                                 b'{"n":%d,"pad":"%s"}' % (n, b"x" * (n * 97 % 20000)), f"p{n}", f"h{n}")
                        for n in range(head + 1, head + 1 + 40 * (b + 1))]
                s.write(rows, InstanceState("gw", rows[-1].seq, rows[-1].hash, b), head, [])
                head = rows[-1].seq
        for s in (old, new):  # another connection (a reader: CLI, verify) sees the same file
            r = SqliteAuditSink(s.path)
            try:
                assert _pragma(r.db, "page_size") == _pragma(s.db, "page_size")
            finally:
                r.close()
        assert list(old.chain("gw")) == list(new.chain("gw"))
        for q in (SearchQuery(limit=10_000), SearchQuery(subjects=("s_1", "s_4"), limit=10_000),
                  SearchQuery(consumer="c1", since=150.0, newest_first=False, limit=7),
                  SearchQuery(route="/r/2", outcome="refused", limit=10_000)):
            assert old.search(q) == new.search(q)
        assert old.shipped_keys("gw", 500) == new.shipped_keys("gw", 500)
        assert old.purge_plan("gw", 200.0) == new.purge_plan("gw", 200.0)
        assert _pragma(old.db, "page_size") == 4096
    finally:
        old.close()
        new.close()
