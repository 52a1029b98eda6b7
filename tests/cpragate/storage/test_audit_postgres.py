"""PostgreSQL specifics (monthly partitions, errors); shared behaviour is in
tests/contract/test_audit_sinks.py. Uses a private schema on the shared server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from cpragate.audit.events import GENESIS
from cpragate.errors import AuditSinkError
from cpragate.storage.audit_postgres import PostgresAuditSink
from cpragate.storage.audit_sink import EventRow, InstanceState

BASE = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def url() -> Iterator[str]:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not answering on 127.0.0.1:5432 and CI=true")
        pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432")
    import psycopg

    schema = f"audp_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(BASE, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(BASE, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def test_events_land_in_monthly_partitions(url: str) -> None:
    s = PostgresAuditSink(url, "px")
    try:
        rows = [
            EventRow("i-0", n, n, ts, None, None, "allow", "served", 200, (), b"{}", GENESIS, "h")
            for n, ts in ((1, 1_767_225_600.0), (2, 1_769_904_000.0))  # Jan and Feb 2026
        ]
        s.write(rows, InstanceState("i-0", 2, "h", 0), 0, [])
        parts = {r[0] for r in s.conn.execute(b"SELECT tablename FROM pg_tables WHERE tablename LIKE 'px_events_p%'")}
        assert parts == {"px_events_p202601", "px_events_p202602"}
        s.drop()
    finally:
        s.close()


def test_streamed_chunks_reaching_a_new_month_and_a_failing_producer(url: str) -> None:
    s = PostgresAuditSink(url, "pc")
    try:
        def row(n: int, ts: float, subjects: tuple[str, ...] = ()) -> EventRow:
            return EventRow("i-0", n, n * 10, ts, "c\u00e9", "/r/{id}", "allow", "served", None if n % 2 else 200,
                            subjects, b'{"n":%d}' % n, GENESIS, f"h{n}")

        jan, feb = 1_767_225_600.0, 1_769_904_000.0
        # the third chunk needs the February partition: the COPY is ended and restarted
        chunks = [[row(1, jan, ("s_a", "s_b")), row(2, jan)], [], [row(3, jan)], [row(4, feb, ("s_c",))]]
        s.write_chunks(iter(chunks), lambda: (InstanceState("i-0", 4, "h4", 7), []), 0)
        got = s.conn.execute(b"SELECT seq, bkey, consumer, status, subjects, body FROM pc_events ORDER BY seq").fetchall()
        assert [(g[0], g[1], g[2], g[3], g[4], bytes(g[5])) for g in got] == [
            (1, 10, "c\u00e9", None, ["s_a", "s_b"], b'{"n":1}'), (2, 20, "c\u00e9", 200, [], b'{"n":2}'),
            (3, 30, "c\u00e9", None, [], b'{"n":3}'), (4, 40, "c\u00e9", 200, ["s_c"], b'{"n":4}')]
        assert s.state("i-0").head_seq == 4 and s.state("i-0").low_pos == 7

        def broken() -> Iterator[list[EventRow]]:
            yield [row(5, feb)]
            raise RuntimeError("the writer failed while building")

        with pytest.raises(RuntimeError):
            s.write_chunks(broken(), lambda: (InstanceState("i-0", 5, "h5", 8), []), 4)
        assert s.state("i-0").head_seq == 4  # rolled back: nothing of the batch is stored
        assert s.conn.execute(b"SELECT count(*) FROM pc_events").fetchone() == (4,)
        with pytest.raises(AuditSinkError):  # a stale head is refused before any row is stored
            s.write_chunks(iter([[row(5, feb)]]), lambda: (InstanceState("i-0", 5, "h5", 8), []), 3)
        s.drop()
    finally:
        s.close()


def test_unreachable() -> None:
    with pytest.raises(AuditSinkError):
        PostgresAuditSink("postgresql://postgres@127.0.0.1:1/test")
