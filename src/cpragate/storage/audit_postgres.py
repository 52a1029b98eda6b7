"""The PostgreSQL audit sink: several gateways, one database, one chain per instance.

``<prefix>_events`` is partitioned by month on ``ts`` (partitions are created on demand,
under an advisory lock so concurrent instances do not race); batches arrive with COPY
in one transaction together with the instance's new state. ``subjects`` is a text[]
with a GIN index for DSAR lookups; consumer, route and time have B-tree indexes.
Driver errors become ``AuditSinkError`` here (never with a value from an event).
"""

from __future__ import annotations

import os
import queue
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from cpragate.audit.chain import Checkpoint
from cpragate.errors import AuditSinkError
from cpragate.storage.audit_sink import EventRow, InstanceState, SearchQuery

__all__ = ["PostgresAuditSink"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}_events (
  instance_id text NOT NULL, seq bigint NOT NULL, bkey bigint NOT NULL, ts timestamptz NOT NULL,
  consumer text, route text, decision text NOT NULL, outcome text NOT NULL, status integer,
  subjects text[] NOT NULL DEFAULT '{{}}', body bytea NOT NULL, prev text NOT NULL, hash text NOT NULL,
  PRIMARY KEY (instance_id, seq, ts)) PARTITION BY RANGE (ts);
CREATE INDEX IF NOT EXISTS {p}_events_bkey ON {p}_events (instance_id, bkey);
CREATE INDEX IF NOT EXISTS {p}_events_ts ON {p}_events (ts);
CREATE INDEX IF NOT EXISTS {p}_events_consumer ON {p}_events (consumer, ts);
CREATE INDEX IF NOT EXISTS {p}_events_route ON {p}_events (route, ts);
CREATE INDEX IF NOT EXISTS {p}_events_subjects ON {p}_events USING gin (subjects);
CREATE TABLE IF NOT EXISTS {p}_instances (
  instance_id text PRIMARY KEY, head_seq bigint NOT NULL, head_hash text NOT NULL,
  low_pos bigint NOT NULL, updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {p}_checkpoints (
  instance_id text NOT NULL, seq bigint NOT NULL, kind text NOT NULL, hash text NOT NULL,
  ts double precision NOT NULL, key_id text NOT NULL, signature text NOT NULL,
  PRIMARY KEY (instance_id, seq, kind));
CREATE TABLE IF NOT EXISTS {p}_subject_keys (
  lookup text PRIMARY KEY, key bytea NOT NULL, created timestamptz NOT NULL DEFAULT now());
"""


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC in Unix seconds: timestamptz's binary zero
_DAY_US = 86_400_000_000


def _us(t: float) -> int:
    """``t`` as a binary timestamptz: microseconds since 2000-01-01 UTC."""
    return round((t - _PG_EPOCH_S) * 1_000_000)


def _month_of_day(day: int) -> tuple[int, int]:
    d = _PG_EPOCH + timedelta(days=day)
    return d.year, d.month


# Binary COPY (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"): the
# writer's batch goes to the server as one buffer built here, with no per-value adaptation.
_COPY_HEAD = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TAIL = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_NCOLS = struct.pack(">h", 13)
_i4 = struct.Struct(">i").pack
_i8x3 = struct.Struct(">iqiqiq").pack  # seq, bkey, ts: three bigint/timestamptz fields
_i4f = struct.Struct(">ii").pack  # one integer field
_ARR_EMPTY = struct.pack(">iiii", 12, 0, 0, 25)  # text[] with no dimension
_arr_head = struct.Struct(">iiiiii").pack  # length, ndim 1, no nulls, oid text, size, lower bound 1
_TEXT_OID = 25


def _text_field(v: str | None) -> bytes:
    if v is None:
        return _NULL
    b = v.encode("utf-8")
    return _i4(len(b)) + b


def _subjects_field(subjects: tuple[str, ...]) -> bytes:
    if not subjects:
        return _ARR_EMPTY
    items = [s.encode("utf-8") for s in subjects]
    body = b"".join(_i4(len(x)) + x for x in items)
    return _arr_head(20 + len(body), 1, 0, _TEXT_OID, len(items), 1) + body


def copy_rows(rows: list[EventRow]) -> bytearray:
    """The binary COPY tuples of ``rows`` in ``_COPY_COLS`` order (no header or trailer)."""
    out = bytearray()
    enc: dict[str | None, bytes] = {}  # instance, consumer, route, decision, outcome repeat within a batch
    for r in rows:
        f_inst = enc.get(r.instance)
        if f_inst is None:
            f_inst = enc[r.instance] = _text_field(r.instance)
        f_cons = enc.get(r.consumer)
        if f_cons is None:
            f_cons = enc[r.consumer] = _text_field(r.consumer)
        f_route = enc.get(r.route)
        if f_route is None:
            f_route = enc[r.route] = _text_field(r.route)
        f_dec = enc.get(r.decision)
        if f_dec is None:
            f_dec = enc[r.decision] = _text_field(r.decision)
        f_out = enc.get(r.outcome)
        if f_out is None:
            f_out = enc[r.outcome] = _text_field(r.outcome)
        body, prev, h = r.body, r.prev.encode("utf-8"), r.hash.encode("utf-8")
        out += b"".join((
            _NCOLS, f_inst, _i8x3(8, r.seq, 8, r.bkey, 8, _us(r.ts)), f_cons, f_route, f_dec, f_out,
            _NULL if r.status is None else _i4f(4, r.status), _subjects_field(r.subjects),
            _i4(len(body)), body, _i4(len(prev)), prev, _i4(len(h)), h,
        ))
    return out


_CHAIN_PAGE = 10_000  # rows per page read by chain() (a helper thread fetches the next one)
_COPY_COLS = "instance_id, seq, bkey, ts, consumer, route, decision, outcome, status, subjects, body, prev, hash"


class PostgresAuditSink:
    """AuditSink on PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, prefix: str = "audit") -> None:
        self.p = prefix
        self._parts: set[tuple[int, int]] = set()
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cpragate-audit-{prefix}",))
                for stmt in _SCHEMA.format(p=prefix).split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt.encode())
        except psycopg.Error as e:
            raise AuditSinkError(f"audit PostgreSQL sink cannot be opened ({type(e).__name__}).") from None

    def _q(self, text: str) -> bytes:
        return text.replace("{p}", self.p).encode()

    def _err(self, what: str, e: Exception) -> AuditSinkError:
        return AuditSinkError(f"audit PostgreSQL {what} failed ({type(e).__name__}).")

    def state(self, instance: str) -> InstanceState:
        try:
            row = self.conn.execute(
                self._q("SELECT head_seq, head_hash, low_pos FROM {p}_instances WHERE instance_id=%s"), (instance,)
            ).fetchone()
        except psycopg.Error as e:
            raise self._err("read", e) from None
        if row is None:
            return InstanceState(instance)
        return InstanceState(instance, int(row[0]), str(row[1]), int(row[2]))

    def shipped_keys(self, instance: str, from_pos: int) -> set[int]:
        try:
            cur = self.conn.execute(
                self._q("SELECT bkey FROM {p}_events WHERE instance_id=%s AND bkey>=%s"), (instance, from_pos)
            )
            return {int(r[0]) for r in cur}
        except psycopg.Error as e:
            raise self._err("read", e) from None

    @staticmethod
    def _months(rows: list[EventRow]) -> set[tuple[int, int]]:
        # By the same microsecond value the row is sent with (so the month always matches).
        return {_month_of_day(d) for d in {(_us(r.ts) // _DAY_US) for r in rows}}

    def _partitions(self, rows: list[EventRow]) -> None:
        months = self._months(rows) - self._parts
        if not months:
            return
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cpragate-audit-{self.p}",))
        for y, m in sorted(months):
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            name = f"{self.p}_events_p{y:04d}{m:02d}"
            self.conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name),
                    sql.Identifier(f"{self.p}_events"),
                    sql.Literal(f"{y:04d}-{m:02d}-01 00:00:00+00"),
                    sql.Literal(f"{ny:04d}-{nm:02d}-01 00:00:00+00"),
                )
            )
        self._parts |= months

    def write(
        self, rows: list[EventRow], state: InstanceState, expected_head: int, checkpoints: list[Checkpoint]
    ) -> None:
        self.write_chunks([rows], lambda: (state, checkpoints), expected_head)

    def write_chunks(
        self,
        chunks: Iterable[list[EventRow]],
        finish: Callable[[], tuple[InstanceState, list[Checkpoint]]],
        expected_head: int,
    ) -> None:
        conn = self.conn
        try:
            with conn.transaction():
                instance: str | None = None
                it = (part for part in chunks if part)
                rows = next(it, None)
                if rows is not None:
                    instance = rows[0].instance
                    self._lock_head(instance, expected_head)
                # Each chunk is sent as soon as it is built: the server inserts it while the
                # caller builds the next. A chunk reaching a month without a partition ends the
                # COPY (DDL cannot run inside one), creates the partition, and starts another.
                while rows is not None:
                    self._partitions(rows)
                    with conn.cursor() as c, c.copy(
                        self._q(f"COPY {{p}}_events ({_COPY_COLS}) FROM STDIN (FORMAT BINARY)")
                    ) as cp:
                        cp.write(_COPY_HEAD)
                        while True:
                            cp.write(copy_rows(rows))
                            rows = next(it, None)
                            if rows is None or self._new_months(rows):
                                break
                        cp.write(_COPY_TAIL)
                state, checkpoints = finish()
                if instance is None:
                    self._lock_head(state.instance, expected_head)
                elif state.instance != instance:
                    raise AuditSinkError("audit rows and state name different instances.")
                if checkpoints:
                    with conn.cursor() as c:
                        c.executemany(
                            self._q(
                                "INSERT INTO {p}_checkpoints (instance_id, seq, kind, hash, ts, key_id, signature)"
                                " VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (instance_id, seq, kind) DO UPDATE SET"
                                " hash=excluded.hash, ts=excluded.ts, key_id=excluded.key_id, signature=excluded.signature"
                            ),
                            [(k.instance, k.seq, k.kind, k.hash, k.ts, k.key_id, k.signature) for k in checkpoints],
                        )
                conn.execute(
                    self._q(
                        "INSERT INTO {p}_instances (instance_id, head_seq, head_hash, low_pos, updated)"
                        " VALUES (%s,%s,%s,%s,now()) ON CONFLICT (instance_id) DO UPDATE SET"
                        " head_seq=excluded.head_seq, head_hash=excluded.head_hash, low_pos=excluded.low_pos,"
                        " updated=now()"
                    ),
                    (state.instance, state.head_seq, state.head_hash, state.low_pos),
                )
        except psycopg.Error as e:
            if isinstance(e, psycopg.errors.UndefinedTable):
                self._parts.clear()
            raise self._err("write", e) from None

    def _lock_head(self, instance: str, expected_head: int) -> None:
        cur = self.conn.execute(
            self._q("SELECT head_seq FROM {p}_instances WHERE instance_id=%s FOR UPDATE"), (instance,)
        ).fetchone()
        head = int(cur[0]) if cur else 0
        if head != expected_head:
            raise AuditSinkError(
                f"audit instance {instance} was advanced by another writer (head {head}, expected "
                f"{expected_head}).",
                fix="Give every gateway process its own instance id (filters.audit.instance_id).",
            )

    def _new_months(self, rows: list[EventRow]) -> bool:
        return bool(self._months(rows) - self._parts)

    def subject_keys(self, lookups: list[str], create: bool) -> dict[str, bytes]:
        if not lookups:
            return {}
        try:
            if create:  # one transaction for all new keys (autocommit: else one commit per key)
                with self.conn.transaction(), self.conn.cursor() as c:
                    c.executemany(
                        self._q("INSERT INTO {p}_subject_keys (lookup, key) VALUES (%s,%s) ON CONFLICT DO NOTHING"),
                        [(lk, os.urandom(32)) for lk in lookups],
                    )
            rows = self.conn.execute(
                self._q("SELECT lookup, key FROM {p}_subject_keys WHERE lookup = ANY(%s)"), (lookups,)
            ).fetchall()
        except psycopg.Error as e:
            raise self._err("subject key", e) from None
        return {str(r[0]): bytes(r[1]) for r in rows}

    def shred(self, lookup: str) -> bool:
        try:
            return self.conn.execute(self._q("DELETE FROM {p}_subject_keys WHERE lookup=%s"), (lookup,)).rowcount > 0
        except psycopg.Error as e:
            raise self._err("shred", e) from None

    def instances(self) -> list[InstanceState]:
        try:
            rows = self.conn.execute(
                self._q("SELECT instance_id, head_seq, head_hash, low_pos FROM {p}_instances ORDER BY instance_id")
            ).fetchall()
            known = {str(r[0]) for r in rows}
            out = [InstanceState(str(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]
            for (inst,) in self.conn.execute(self._q("SELECT DISTINCT instance_id FROM {p}_events")).fetchall():
                if inst not in known:
                    out.append(InstanceState(str(inst), 0, "", 0))
            return out
        except psycopg.Error as e:
            raise self._err("read", e) from None

    def chain(self, instance: str, from_seq: int = 0) -> Iterator[tuple[int, str, str, bytes]]:
        # The next page is fetched by a helper thread while the caller hashes this one, so
        # the server's work and the verifier's overlap (the connection is used by that
        # thread only until the generator finishes or is closed).
        pages: queue.Queue[list[tuple[int, str, str, bytes]] | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item: list[tuple[int, str, str, bytes]] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for page in self._chain_pages(instance, from_seq):
                    if not put(page):
                        return
                put(None)
            except BaseException as e:  # handed to the consumer, raised there
                put(e)

        t = threading.Thread(target=produce, name="cpragate-audit-chain", daemon=True)
        t.start()
        try:
            while True:
                item = pages.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, psycopg.Error):
                        raise self._err("read", item) from None
                    raise item
                yield from item
        finally:
            stop.set()
            t.join()

    def _chain_pages(self, instance: str, from_seq: int) -> Iterator[list[tuple[int, str, str, bytes]]]:
        # A server-side cursor (planned for a fast start: the (instance_id, seq) index, no
        # sort) fetched in pages of _CHAIN_PAGE rows, each decoded by the driver in C.
        with self.conn.transaction(), self.conn.cursor(name=f"{self.p}_chain", binary=True) as cur:
            cur.execute(
                self._q("SELECT seq, prev, hash, body FROM {p}_events WHERE instance_id=%s AND seq>=%s ORDER BY seq"),
                (instance, from_seq),
            )
            while True:
                page = cur.fetchmany(_CHAIN_PAGE)
                if not page:
                    return
                yield page

    def checkpoints(self, instance: str) -> list[Checkpoint]:
        try:
            rows = self.conn.execute(
                self._q(
                    "SELECT instance_id, seq, hash, ts, kind, key_id, signature FROM {p}_checkpoints"
                    " WHERE instance_id=%s ORDER BY seq"
                ),
                (instance,),
            ).fetchall()
        except psycopg.Error as e:
            raise self._err("read", e) from None
        return [Checkpoint(str(r[0]), int(r[1]), str(r[2]), float(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in rows]

    def search(self, q: SearchQuery) -> list[bytes]:
        where: list[str] = []
        args: list[Any] = []
        if q.subjects:
            where.append("subjects && %s::text[]")
            args.append(list(q.subjects))
        for col, val in (("consumer", q.consumer), ("route", q.route), ("decision", q.decision),
                         ("outcome", q.outcome), ("instance_id", q.instance)):
            if val is not None:
                where.append(f"{col}=%s")
                args.append(val)
        if q.since is not None:
            where.append("ts>=%s")
            args.append(_ts(q.since))
        if q.until is not None:
            where.append("ts<%s")
            args.append(_ts(q.until))
        text = "SELECT body FROM {p}_events"
        if where:
            text += " WHERE " + " AND ".join(where)
        text += f" ORDER BY ts {'DESC' if q.newest_first else 'ASC'} LIMIT %s"
        args.append(q.limit)
        try:
            return [bytes(r[0]) for r in self.conn.execute(self._q(text), args).fetchall()]
        except psycopg.Error as e:
            raise self._err("search", e) from None

    def purge_plan(self, instance: str, before: float) -> tuple[int, str] | None:
        try:
            row = self.conn.execute(
                self._q("SELECT MIN(seq) FROM {p}_events WHERE instance_id=%s AND ts>=%s"), (instance, _ts(before))
            ).fetchone()
            first_kept = row[0] if row else None
            if first_kept is None:
                r2 = self.conn.execute(
                    self._q("SELECT seq, hash FROM {p}_events WHERE instance_id=%s ORDER BY seq DESC LIMIT 1"),
                    (instance,),
                ).fetchone()
            else:
                r2 = self.conn.execute(
                    self._q(
                        "SELECT seq, hash FROM {p}_events WHERE instance_id=%s AND seq<%s ORDER BY seq DESC LIMIT 1"
                    ),
                    (instance, first_kept),
                ).fetchone()
        except psycopg.Error as e:
            raise self._err("read", e) from None
        return (int(r2[0]), str(r2[1])) if r2 else None

    def purge(self, instance: str, upto_seq: int, checkpoint: Checkpoint) -> int:
        conn = self.conn
        try:
            with conn.transaction():
                conn.execute(
                    self._q(
                        "INSERT INTO {p}_checkpoints (instance_id, seq, kind, hash, ts, key_id, signature)"
                        " VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (instance_id, seq, kind) DO UPDATE SET"
                        " hash=excluded.hash, ts=excluded.ts, key_id=excluded.key_id, signature=excluded.signature"
                    ),
                    (checkpoint.instance, checkpoint.seq, checkpoint.kind, checkpoint.hash, checkpoint.ts,
                     checkpoint.key_id, checkpoint.signature),
                )
                n = conn.execute(
                    self._q("DELETE FROM {p}_events WHERE instance_id=%s AND seq<=%s"), (instance, upto_seq)
                ).rowcount
                conn.execute(
                    self._q("DELETE FROM {p}_checkpoints WHERE instance_id=%s AND seq<%s"), (instance, upto_seq)
                )
        except psycopg.Error as e:
            raise self._err("purge", e) from None
        return int(n)

    def drop(self) -> None:
        """Drop every table of this prefix (tests and benchmarks clean up with it)."""
        try:
            for t in ("events", "instances", "checkpoints", "subject_keys"):
                self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(f"{self.p}_{t}")))
        except psycopg.Error as e:
            raise self._err("drop", e) from None

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:
            pass
