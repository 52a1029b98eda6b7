# ruff: noqa: S608 - table names come from a validated prefix (letters, digits, _); values are always bound parameters
"""The SQLite audit sink (the default): WAL mode, one transaction per shipped batch.

Tables (``<prefix>_`` names): ``events`` (one row per event: search columns, the
canonical body, ``prev``/``hash``), ``subjects`` (pseudonym → event, for DSAR),
``instances`` (chain head + spool low-water mark), ``checkpoints`` (signed heads),
``subject_keys`` (one random key per data subject; deleting a row crypto-shreds).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import cast

from cpragate.audit.chain import Checkpoint
from cpragate.audit.events import sqlite_params
from cpragate.errors import AuditSinkError
from cpragate.storage.audit_sink import EventRow, InstanceState, SearchQuery

__all__ = ["SqliteAuditSink"]

_EV_COLS = "(instance_id, seq, bkey, ts, consumer, route, decision, outcome, status, body, prev, hash)"
_ROW_WIDTH = len(EventRow._fields)  # 13: EventRow's fields are _EV_COLS with subjects (index 9) between
_SUBJECTS_AT = EventRow._fields.index("subjects")  # status and body
_flat = chain.from_iterable
_EV_ROWS = 512  # 12 * 512 bound parameters per statement (SQLite allows 32,766)
_SUBJ_ROWS = 2048
_CACHE_KIB = -32768  # 32 MiB page cache
_WAL_SAFETY_BYTES = 16 << 20  # of WAL before the writing connection checkpoints itself
_PAGE_SIZE = 16384
"""Page size of new databases (SQLite's default is 4096). Every page a batch touches is
one WAL frame, written with two ``pwrite`` calls by the writer and copied into the
database by the checkpointer: with 16 KiB pages an event's ≈ 1.3 KB row shares its frame
with a dozen others instead of two, so a batch writes a quarter as many frames (session 13:
the checkpointer thread's CPU per event about halved, the writer's ≈ −3 to −6 %; the file
is as large). Databases created before keep theirs."""
_CKPT_SPACING = 0.5
"""Seconds at least between two checkpoints of the checkpointer thread. After every batch
(20 a second under load) it synced the WAL and the database file (two ``fdatasync``) and
copied again the pages every batch rewrites (the right edges of the indexes, the instance
row); spaced, a checkpoint covers all batches written meanwhile (live: half the syncs, the
thread's CPU per request ~45 % lower). The WAL grows by what is written meanwhile (a few
MiB under load, bounded by ``_WAL_SAFETY_BYTES``); durability does not wait for it: the
writing connection syncs the WAL at each commit (``synchronous=FULL``, see ``write``)."""

log = logging.getLogger("cpragate.audit")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}_events (
  instance_id TEXT NOT NULL, seq INTEGER NOT NULL, bkey INTEGER NOT NULL, ts REAL NOT NULL,
  consumer TEXT, route TEXT, decision TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER,
  body BLOB NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (instance_id, seq));
CREATE INDEX IF NOT EXISTS {p}_events_bkey ON {p}_events (instance_id, bkey);
CREATE INDEX IF NOT EXISTS {p}_events_ts ON {p}_events (ts);
CREATE INDEX IF NOT EXISTS {p}_events_consumer ON {p}_events (consumer, ts);
CREATE INDEX IF NOT EXISTS {p}_events_route ON {p}_events (route, ts);
CREATE TABLE IF NOT EXISTS {p}_subjects (
  pseudonym TEXT NOT NULL, instance_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS {p}_subjects_p ON {p}_subjects (pseudonym, ts);
CREATE INDEX IF NOT EXISTS {p}_subjects_e ON {p}_subjects (instance_id, seq);
CREATE TABLE IF NOT EXISTS {p}_instances (
  instance_id TEXT PRIMARY KEY, head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL,
  low_pos INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS {p}_checkpoints (
  instance_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, hash TEXT NOT NULL,
  ts REAL NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
  PRIMARY KEY (instance_id, seq, kind));
CREATE TABLE IF NOT EXISTS {p}_subject_keys (lookup TEXT PRIMARY KEY, key BLOB NOT NULL, created REAL NOT NULL);
"""


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (quotes doubled; SQLite stores exactly ``text``)."""
    return "'" + text.replace("'", "''") + "'"


class SqliteAuditSink:
    """AuditSink on one SQLite file (see the module docstring)."""

    def __init__(self, path: str, prefix: str = "audit") -> None:
        self.path = path
        self.p = prefix
        self._sql: dict[tuple[str, int, str | None], str] = {}
        self._ckpt: threading.Thread | None = None
        self._writing = False
        self._ckpt_wake = threading.Event()
        self._ckpt_stop = threading.Event()
        self.checkpoint_spacing = _CKPT_SPACING
        """Seconds at least between the checkpointer thread's checkpoints (``_CKPT_SPACING``)."""
        self.wal_checkpoints = 0
        """Checkpoints the checkpointer thread has run (for tests and diagnostics)."""
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            # Before anything creates the file: a new database gets _PAGE_SIZE pages. An
            # existing one keeps its own: a WAL-mode file's page size cannot change (in any
            # other mode only a VACUUM would apply it, and nothing here runs one).
            self.db.execute(f"PRAGMA page_size={_PAGE_SIZE}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if path != ":memory:":
                # WAL pages are copied into the database by a checkpointer thread (below) while
                # this connection goes on writing; this connection checkpoints itself only if
                # that thread falls behind by _WAL_SAFETY_BYTES.
                page = int(self.db.execute("PRAGMA page_size").fetchone()[0])  # the file's (or a new one's)
                self.db.execute(f"PRAGMA wal_autocheckpoint={_WAL_SAFETY_BYTES // page}")
            self.db.executescript(_SCHEMA.format(p=prefix))
            if path != ":memory:":
                os.chmod(path, 0o600)
        except (sqlite3.Error, OSError) as e:
            raise AuditSinkError(f"audit SQLite database {path} cannot be opened ({type(e).__name__}: {e}).") from None

    def _insert_sql(self, table: str, n: int, instance: str | None) -> str:
        """The INSERT of ``n`` rows (``n`` a power of two: see :meth:`_insert`), the instance
        id a literal (``instance``) or, when None, bound like the other columns."""
        key = (table, n, instance)
        q = self._sql.get(key)
        if q is None:
            lit = "?" if instance is None else _literal(instance)
            if table == "events":
                cols, one = _EV_COLS, f"({lit},?,?,?,?,?,?,?,?,?,?,?)"
            else:
                cols, one = "(pseudonym, instance_id, seq, ts)", f"(?,{lit},?,?)"
            q = self._sql[key] = f"INSERT INTO {self.p}_{table} {cols} VALUES " + ",".join([one] * n)
        return q

    def _insert(self, table: str, instance: str | None, params: list[object], most: int) -> None:
        """Insert rows given as one flat list of their parameters (the instance id among
        them when ``instance`` is None, else ``instance`` is every row's) with multi-row
        INSERTs of power-of-two sizes up to ``most``.

        Multi-row statements bind and step far less often than executemany's one statement
        per row; power-of-two sizes keep the SQL texts few (at most 12 per table and
        instance), so every statement stays in the connection's statement cache, prepared
        once. (One text per batch size re-prepared a statement of up to 500 rows whenever
        the size was new to the cache.) The instance id, the same in every row, is a
        literal of the statement's text: the same stored value, without binding it twice
        per event (a text bind copies the string into SQLite's memory: ~800 instructions)."""
        db, i = self.db, 0
        if table == "events":
            width = 12 if instance is None else 11  # parameters per event row
        else:
            width = 3 if instance is not None else 4
        n = len(params) // width
        while i < n:
            k = min(most, 1 << ((n - i).bit_length() - 1))
            db.execute(self._insert_sql(table, k, instance), params[i * width : (i + k) * width] if n > k else params)
            i += k

    def _insert_rows(self, rows: list[EventRow], instance: str) -> None:
        """The events and subject rows of ``rows``; ``instance``: the batch's (all of the
        writer's rows are its instance's).

        The parameters come from ``events.sqlite_params`` (one C pass when the audit group
        is built): the rows' fields without the subjects and the instance id (a literal of
        the INSERT texts), the bodies as bytearray: the same BLOB, but the sqlite3 module
        binds bytes only after asking for an adapter (~3k instructions each, two failed
        attribute lookups)."""
        both = sqlite_params(rows, instance) if "\x00" not in instance else None
        if both is not None:
            self._insert("events", instance, both[0], _EV_ROWS)
            self._insert("subjects", instance, both[1], _SUBJ_ROWS)
        else:  # rows of other instances (or an id SQL text cannot hold): every value bound
            params: list[object] = list(_flat(rows))
            del params[_SUBJECTS_AT::_ROW_WIDTH]
            params[9::12] = [bytearray(b) for b in cast("list[bytes]", params[9::12])]
            self._insert("events", None, params, _EV_ROWS)
            self._insert("subjects", None,
                         [x for r in rows for s in r.subjects for x in (s, r.instance, r.seq, r.ts)], _SUBJ_ROWS)

    def _err(self, what: str, e: Exception) -> AuditSinkError:
        return AuditSinkError(f"audit SQLite {what} failed ({type(e).__name__}: {e}).")

    def state(self, instance: str) -> InstanceState:
        try:
            row = self.db.execute(
                f"SELECT head_seq, head_hash, low_pos FROM {self.p}_instances WHERE instance_id=?", (instance,)
            ).fetchone()
        except sqlite3.Error as e:
            raise self._err("read", e) from None
        if row is None:
            return InstanceState(instance)
        return InstanceState(instance, int(row[0]), str(row[1]), int(row[2]))

    def shipped_keys(self, instance: str, from_pos: int) -> set[int]:
        try:
            cur = self.db.execute(
                f"SELECT bkey FROM {self.p}_events WHERE instance_id=? AND bkey>=?", (instance, from_pos)
            )
            return {int(r[0]) for r in cur}
        except sqlite3.Error as e:
            raise self._err("read", e) from None

    def write(
        self, rows: list[EventRow], state: InstanceState, expected_head: int, checkpoints: list[Checkpoint]
    ) -> None:
        db, p = self.db, self.p
        try:
            if not self._writing:  # the writer's connection keeps index pages in memory across
                self._writing = True  # batches; readers (verify's one-pass scan) keep the default
                db.execute(f"PRAGMA cache_size={_CACHE_KIB}")
                # A batch is a few multi-row INSERTs in one transaction; each may need a
                # statement journal (the pages it changed, to undo it alone on a constraint
                # error). On disk, past 64 KiB, that journal cost a write syscall per page:
                # two per event under load. In memory it is a copy of what one statement
                # changes. Only here: a search's sorts stay free to spill to disk.
                db.execute("PRAGMA temp_store=MEMORY")
                # The writer drops spool records once write() returns: the batch must be on
                # disk by then. NORMAL synced the WAL only at checkpoints (then after every
                # batch, now spaced by _CKPT_SPACING); FULL syncs it at each commit.
                db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(f"SELECT head_seq FROM {p}_instances WHERE instance_id=?", (state.instance,)).fetchone()
                if (int(cur[0]) if cur else 0) != expected_head:
                    raise AuditSinkError(
                        f"audit instance {state.instance} was advanced by another writer "
                        f"(head {cur[0] if cur else 0}, expected {expected_head}).",
                        fix="Give every gateway process its own instance id (filters.audit.instance_id).",
                    )
                self._insert_rows(rows, state.instance)
                if checkpoints:
                    db.executemany(
                        f"INSERT OR REPLACE INTO {p}_checkpoints (instance_id, seq, kind, hash, ts, key_id, signature)"
                        " VALUES (?,?,?,?,?,?,?)",
                        [(c.instance, c.seq, c.kind, c.hash, c.ts, c.key_id, c.signature) for c in checkpoints],
                    )
                db.execute(
                    f"INSERT INTO {p}_instances (instance_id, head_seq, head_hash, low_pos, updated) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(instance_id) DO UPDATE SET head_seq=excluded.head_seq,"
                    " head_hash=excluded.head_hash, low_pos=excluded.low_pos, updated=excluded.updated",
                    (state.instance, state.head_seq, state.head_hash, state.low_pos, time.time()),
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self._err("write", e) from None
        if self.path != ":memory:":
            if self._ckpt is None:
                self._ckpt = threading.Thread(target=self._checkpointer, name="cpragate-audit-wal", daemon=True)
                self._ckpt.start()
            self._ckpt_wake.set()

    def _checkpointer(self) -> None:
        """Copy committed WAL pages into the database (PASSIVE: never blocks the writer)."""
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        except sqlite3.Error:
            log.debug("audit SQLite checkpointer cannot connect; the writer checkpoints itself", exc_info=True)
            return
        try:
            while not self._ckpt_stop.is_set():
                if not self._ckpt_wake.wait(1.0):
                    continue
                self._ckpt_wake.clear()
                if self._ckpt_stop.is_set():
                    break
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.wal_checkpoints += 1
                except sqlite3.Error:
                    log.debug("audit SQLite checkpoint failed; retried after the next batch", exc_info=True)
                # batches written meanwhile set the wake again: one checkpoint copies them all
                self._ckpt_stop.wait(self.checkpoint_spacing)
        finally:
            conn.close()

    def write_chunks(
        self,
        chunks: Iterable[list[EventRow]],
        finish: Callable[[], tuple[InstanceState, list[Checkpoint]]],
        expected_head: int,
    ) -> None:
        rows = [r for part in chunks for r in part]  # in-process: nothing to overlap with
        state, checkpoints = finish()
        self.write(rows, state, expected_head, checkpoints)

    def subject_keys(self, lookups: list[str], create: bool) -> dict[str, bytes]:
        if not lookups:
            return {}
        db = self.db
        try:
            if create:
                # One transaction for all new keys: on its own (autocommit) every row was a
                # commit and a WAL write. Keys as bytearray: the same BLOB, bound without the
                # sqlite3 module's adapter lookup.
                now = time.time()
                rnd = os.urandom(32 * len(lookups))
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany(
                        f"INSERT OR IGNORE INTO {self.p}_subject_keys (lookup, key, created) VALUES (?,?,?)",
                        [(lk, bytearray(rnd[32 * i : 32 * i + 32]), now) for i, lk in enumerate(lookups)],
                    )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            out: dict[str, bytes] = {}
            for i in range(0, len(lookups), 512):
                chunk = lookups[i : i + 512]
                # Padded to a power-of-two length with its last lookup (IN ignores repeats):
                # at most 10 texts, so this query never evicts the writer's INSERTs from the
                # sqlite3 module's statement cache (128 texts), as one text per length did.
                chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
                q = ",".join("?" * len(chunk))
                for lk, key in db.execute(
                    f"SELECT lookup, key FROM {self.p}_subject_keys WHERE lookup IN ({q})", chunk
                ):
                    out[str(lk)] = bytes(key)
            return out
        except sqlite3.Error as e:
            raise self._err("subject key", e) from None

    def shred(self, lookup: str) -> bool:
        try:
            return self.db.execute(f"DELETE FROM {self.p}_subject_keys WHERE lookup=?", (lookup,)).rowcount > 0
        except sqlite3.Error as e:
            raise self._err("shred", e) from None

    def instances(self) -> list[InstanceState]:
        try:
            rows = self.db.execute(
                f"SELECT instance_id, head_seq, head_hash, low_pos FROM {self.p}_instances ORDER BY instance_id"
            ).fetchall()
            known = {str(r[0]) for r in rows}
            out = [InstanceState(str(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]
            for (inst,) in self.db.execute(f"SELECT DISTINCT instance_id FROM {self.p}_events"):
                if inst not in known:
                    out.append(InstanceState(str(inst), 0, "", 0))
            return out
        except sqlite3.Error as e:
            raise self._err("read", e) from None

    def chain(self, instance: str, from_seq: int = 0) -> Iterator[tuple[int, str, str, bytes]]:
        try:
            cur = self.db.execute(
                f"SELECT seq, prev, hash, body FROM {self.p}_events WHERE instance_id=? AND seq>=? ORDER BY seq",
                (instance, from_seq),
            )
            while True:
                batch = cur.fetchmany(5000)
                if not batch:
                    return
                yield from batch
        except sqlite3.Error as e:
            raise self._err("read", e) from None

    def checkpoints(self, instance: str) -> list[Checkpoint]:
        try:
            rows = self.db.execute(
                f"SELECT instance_id, seq, hash, ts, kind, key_id, signature FROM {self.p}_checkpoints"
                " WHERE instance_id=? ORDER BY seq",
                (instance,),
            ).fetchall()
        except sqlite3.Error as e:
            raise self._err("read", e) from None
        return [Checkpoint(str(r[0]), int(r[1]), str(r[2]), float(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in rows]

    def search(self, q: SearchQuery) -> list[bytes]:
        where: list[str] = []
        args: list[object] = []
        p = self.p
        src = f"{p}_events e"
        if q.subjects:
            src = f"{p}_subjects s JOIN {p}_events e ON e.instance_id=s.instance_id AND e.seq=s.seq"
            where.append(f"s.pseudonym IN ({','.join('?' * len(q.subjects))})")
            args += list(q.subjects)
        for col, val in (("consumer", q.consumer), ("route", q.route), ("decision", q.decision),
                         ("outcome", q.outcome), ("instance_id", q.instance)):
            if val is not None:
                where.append(f"e.{col}=?")
                args.append(val)
        if q.since is not None:
            where.append("e.ts>=?")
            args.append(q.since)
        if q.until is not None:
            where.append("e.ts<?")
            args.append(q.until)
        sql = f"SELECT DISTINCT e.body, e.ts FROM {src}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY e.ts {'DESC' if q.newest_first else 'ASC'} LIMIT ?"
        args.append(q.limit)
        try:
            return [bytes(r[0]) for r in self.db.execute(sql, args)]
        except sqlite3.Error as e:
            raise self._err("search", e) from None

    def purge_plan(self, instance: str, before: float) -> tuple[int, str] | None:
        try:
            row = self.db.execute(
                f"SELECT MIN(seq) FROM {self.p}_events WHERE instance_id=? AND ts>=?", (instance, before)
            ).fetchone()
            first_kept = row[0] if row and row[0] is not None else None
            if first_kept is None:
                r2 = self.db.execute(
                    f"SELECT seq, hash FROM {self.p}_events WHERE instance_id=? ORDER BY seq DESC LIMIT 1", (instance,)
                ).fetchone()
            else:
                r2 = self.db.execute(
                    f"SELECT seq, hash FROM {self.p}_events WHERE instance_id=? AND seq<? ORDER BY seq DESC LIMIT 1",
                    (instance, first_kept),
                ).fetchone()
        except sqlite3.Error as e:
            raise self._err("read", e) from None
        return (int(r2[0]), str(r2[1])) if r2 else None

    def purge(self, instance: str, upto_seq: int, checkpoint: Checkpoint) -> int:
        db, p = self.db, self.p
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    f"INSERT OR REPLACE INTO {p}_checkpoints (instance_id, seq, kind, hash, ts, key_id, signature)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (checkpoint.instance, checkpoint.seq, checkpoint.kind, checkpoint.hash, checkpoint.ts,
                     checkpoint.key_id, checkpoint.signature),
                )
                n = db.execute(f"DELETE FROM {p}_events WHERE instance_id=? AND seq<=?", (instance, upto_seq)).rowcount
                db.execute(f"DELETE FROM {p}_subjects WHERE instance_id=? AND seq<=?", (instance, upto_seq))
                db.execute(
                    f"DELETE FROM {p}_checkpoints WHERE instance_id=? AND seq<? ", (instance, upto_seq)
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self._err("purge", e) from None
        return int(n)

    def close(self) -> None:
        self._ckpt_stop.set()
        self._ckpt_wake.set()
        if self._ckpt is not None:
            self._ckpt.join(timeout=10)
            self._ckpt = None
        try:
            self.db.close()
        except sqlite3.Error:
            pass
