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


def test_unreachable() -> None:
    with pytest.raises(AuditSinkError):
        PostgresAuditSink("postgresql://postgres@127.0.0.1:1/test")
