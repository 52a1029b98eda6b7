"""The audit writer: the filter's AuditLog on the hot path, and the shipper thread.

Theory of operation:

1. Hot path (event loop thread): the audit filter hands a compact record (a list);
   :meth:`AuditWriter.begin` / :meth:`complete` / :meth:`event` serialize it with orjson
   and copy it into the memory-mapped spool (storage/audit_spool.py). No system call,
   no lock, no wait on the database: a few microseconds. The record itself is left
   for the shipper in the spool's bounded hand-over table (it need not parse what this
   thread has just serialized); the spool bytes remain what replay reads.
2. Shipper (one thread): reads new spool records in order, pairs each completion with
   its begin, turns them into events (cpragate.audit.events), resolves subject lookups
   to pseudonyms (one random key per subject, kept in the sink), numbers and chains the
   events (cpragate.audit.chain), and writes the batch plus the instance's new state —
   chain head and the spool position of the oldest begin still open (``low_pos``) — in
   ONE sink transaction. Events are built in chunks handed to the sink as they are
   ready (``write_chunks``: PostgreSQL's server inserts one chunk's COPY data while the
   next is built); the head, a due checkpoint and the JSONL copy are produced after the
   last chunk, before the commit. Then it deletes spool segments wholly below ``low_pos``.
3. Any sink failure resets the shipper to step 4 and retries with backoff (up to 5 s);
   meanwhile the spool grows (bounded: begins are refused at ``max_bytes``, the filter
   answers 503) and an error is logged every 10 s while it is full.
4. Recovery (start, or after a failure): read the instance's state from the sink, the
   keys already stored at or after ``low_pos`` (``shipped_keys``; an event's key is the
   spool position of the record that completed it), and read the spool again from
   ``low_pos``, skipping records whose event is stored. So a batch is stored exactly once
   even if the process died between the sink commit and the spool cleanup. Begins
   written by an earlier process (below the spool's ``boot_pos``) that have no
   completion become events with outcome ``interrupted``.
5. Every ``checkpoint_every`` events or ``checkpoint_interval`` seconds, and at a clean
   stop, the chain head is signed (Ed25519) and stored with the batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpragate.audit.chain import Checkpoint, sign_checkpoint
from cpragate.audit.events import build_rows, lookup, missing_subjects, pair_records, param_token, pseudonym
from cpragate.audit.keys import load_master_key, load_signing_key
from cpragate.errors import AuditError
from cpragate.storage.audit_sink import AuditSink, EventRow, InstanceState, open_sink
from cpragate.storage.audit_spool import Spool

__all__ = ["AuditWriter", "WriterOptions", "open_audit"]

log = logging.getLogger("cpragate.audit")

_dumps = orjson.dumps
_NL = orjson.OPT_APPEND_NEWLINE
_CHUNK = 500  # events built per chunk handed to the sink within one batch
_param_token = param_token


@dataclass(frozen=True)
class WriterOptions:
    sink_url: str
    table_prefix: str = "audit"
    instance_prefix: str = "gw"
    batch: int = 5000
    ship_interval: float = 0.05
    """How often the writer looks at the spool while it waits for records."""
    ship_wait: float = 0.25
    """The longest a record waits in the spool before it is shipped (sink up) ..."""
    ship_bytes: int = 64 << 10
    """... unless this many bytes of records (about 75 events) are waiting: then at the
    next look. Under load every look ships; at a few requests a second, one transaction
    (and one WAL write of every page the batch touched) per 0.25 s, not per event."""
    checkpoint_every: int = 10_000
    checkpoint_interval: float = 60.0
    jsonl_path: Path | None = None
    subject_key_ttl: float = 60.0
    stop_timeout: float = 5.0


class AuditWriter:
    """Implements ``cpragate.storage.base.AuditLog`` for the audit filter."""

    def __init__(self, spool: Spool, master_key: bytes, signing_key: Ed25519PrivateKey, opts: WriterOptions) -> None:
        self.spool = spool
        self.opts = opts
        self.instance_id = f"{opts.instance_prefix}-{spool.slot}"
        self._master = master_key
        self._signing = signing_key
        self._append = spool.append
        self.append_record = spool.append
        """The spool's append (a JSON line, begin or not, the record it is the JSON of ->
        its position, or None when refused), called directly by the audit filter's
        synchronous path (filters/audit/fastpath.py), which builds the same records as
        begin/complete/event and hands them over (never changed afterwards)."""
        self._last_drop_log = 0.0
        self._shipper = _Shipper(self)
        self._thread: threading.Thread | None = None

    # --- AuditLog (event loop thread) ---------------------------------------------------
    def lookup(self, value: str) -> str:
        return lookup(self._master, value)

    # begin and complete hand the record over to the writer thread (Spool.append's
    # ``record``): the caller must not change it afterwards. Events (the admin API's) are
    # rare and only spooled.
    async def begin(self, record: list[Any]) -> int | None:
        return self._append(_dumps(record, option=_NL), True, record)

    async def complete(self, record: list[Any]) -> bool:
        return self.spooled(self._append(_dumps(record, option=_NL), False, record))

    async def event(self, record: list[Any], reserve: bool = True) -> bool:
        # reserve=False (admin events): refused at max_bytes like a new request's begin, so
        # they never take the reserve kept for completions of exchanges already forwarded.
        return self.spooled(self._append(_dumps(record, option=_NL), not reserve))

    def spooled(self, pos: int | None) -> bool:
        """False (and the loss logged, at most once a second) when ``pos`` is None: the spool refused a record."""
        if pos is not None:
            return True
        now = time.monotonic()
        if now - self._last_drop_log > 1.0:
            self._last_drop_log = now
            log.error(
                "CPG-AUD-003: an audit record could not be spooled (spool beyond its reserve or closed); "
                "%d lost so far", self.spool.dropped + 1,
            )
        return False

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._shipper.run, name="cpragate-audit-writer", daemon=True)
            self._thread.start()

    async def aclose(self) -> None:
        """Ship what is spooled (bounded by ``stop_timeout``), sign the head, close."""
        self._shipper.stop.set()
        t = self._thread
        if t is not None:
            await asyncio.to_thread(t.join, self.opts.stop_timeout + 5)
        self.spool.close()

    def close_sync(self) -> None:
        self._shipper.stop.set()
        if self._thread is not None:
            self._thread.join(self.opts.stop_timeout + 5)
        self.spool.close()

    @property
    def stats(self) -> dict[str, Any]:
        s = self._shipper
        return {"instance": self.instance_id, "shipped": s.shipped_total, "head_seq": s.head_seq,
                "spool_bytes": self.spool.used, "spool_full": self.spool.full, "sink_ok": s.sink_ok}


class _Shipper:
    """The writer thread's state; everything here runs on that thread (see the module doc)."""

    def __init__(self, w: AuditWriter) -> None:
        self.w = w
        self.inst = w.instance_id
        self.stop = threading.Event()
        self.sink: AuditSink | None = None
        self.recovered = False
        self.head_seq = 0
        self.head_hash = ""
        self.read_pos = 0
        self.pending: dict[int, list[Any]] = {}
        self.shipped: set[int] = set()
        self.old_done = False
        self.keys: dict[str, tuple[str, float]] = {}
        self.since_cp = 0
        self.last_cp = time.monotonic()
        self.shipped_total = 0
        self.sink_ok = False
        self._last_err = 0.0
        self._last_full = 0.0
        self._jsonl: Any = None

    def run(self) -> None:
        backoff = 0.1
        deadline: float | None = None
        while True:
            stopping = self.stop.is_set()
            if stopping:
                if deadline is None:
                    deadline = time.monotonic() + self.w.opts.stop_timeout
                elif time.monotonic() > deadline:
                    log.warning("audit writer stopped with events still in the spool; they ship at the next start")
                    break
            try:
                n = self.step()
                backoff = 0.1
                if stopping and n == 0:
                    self.final_checkpoint()
                    break
                if n < self.w.opts.batch:  # the spool is drained: wait for more
                    self.wait_for_records()
            except Exception as e:  # the sink or a bug: retry from the sink's state
                self.fail(e)
                if stopping:
                    break
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            self.alert_full()
        self.reset()
        if self._jsonl is not None:
            self._jsonl.close()

    def wait_for_records(self) -> None:
        """Until ``ship_bytes`` of records wait in the spool or the oldest has waited
        ``ship_wait`` (looking every ``ship_interval``); at once when stopping."""
        opts, spool = self.w.opts, self.w.spool
        end = time.monotonic() + opts.ship_wait
        waited_for = spool.unread(self.read_pos) > 0  # records already waiting: the clock runs from now
        while not self.stop.wait(opts.ship_interval):
            pending = spool.unread(self.read_pos)
            if pending >= opts.ship_bytes:
                return
            now = time.monotonic()
            if pending and not waited_for:  # the first record arrived: it waits at most ship_wait
                waited_for, end = True, now + opts.ship_wait
            if waited_for and now >= end:
                return

    def fail(self, e: Exception) -> None:
        self.sink_ok = False
        now = time.monotonic()
        if now - self._last_err > 10:
            self._last_err = now
            if isinstance(e, AuditError):
                log.error("%s (events wait in the spool)", e)
            else:
                log.error("CPG-AUD-004: audit writer failed (%s); retrying", type(e).__name__, exc_info=e)
        self.reset()

    def reset(self) -> None:
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception:  # already failing; the next attempt reopens it
                log.debug("closing the audit sink failed", exc_info=True)
        self.sink = None
        self.recovered = False
        self.pending = {}
        self.shipped = set()

    def alert_full(self) -> None:
        since = self.w.spool.full_since
        if since is not None and self.w.spool.full:
            now = time.monotonic()
            if now - self._last_full > 10:
                self._last_full = now
                log.error(
                    "CPG-AUD-005: ALERT audit spool full for %.0fs (%d bytes): audited routes answer 503 until the "
                    "sink drains it", now - since, self.w.spool.used,
                )

    def recover(self) -> AuditSink:
        if self.sink is None:
            self.sink = open_sink(self.w.opts.sink_url, self.w.opts.table_prefix)
        st = self.sink.state(self.inst)
        self.head_seq, self.head_hash = st.head_seq, st.head_hash
        self.read_pos = st.low_pos
        self.shipped = self.sink.shipped_keys(self.inst, st.low_pos)
        self.pending = {}
        self.old_done = st.low_pos >= self.w.spool.boot_pos
        self.recovered = True
        self.sink_ok = True
        return self.sink

    def step(self) -> int:
        """Ship one batch; the number of spool records consumed."""
        sink = self.sink if self.recovered and self.sink is not None else self.recover()
        spool = self.w.spool
        recs, next_pos = spool.read(self.read_pos, self.w.opts.batch, True)  # handed-over records taken
        todo: list[tuple[int, Any, Any]] = []
        pending, shipped = self.pending, self.shipped
        # Dedup key of an event: the spool position of the record that completes it (the
        # completion, the single event, or for an interrupted exchange its begin). Replay
        # re-reads from low_pos, and every such record at or after low_pos that is already
        # stored is in ``shipped``. (The loop is compiled: cpragate.audit.events.)
        unreadable: list[int] = []
        orphans: list[int] = []
        pair_records(recs, pending, shipped, todo, unreadable, orphans)
        for pos in unreadable:
            log.error("CPG-AUD-003: unreadable audit spool record at %d skipped", pos)
        for pos in orphans:
            log.warning("CPG-AUD-003: audit completion at %d has no begin record", pos)
        consumed = len(recs)
        if not self.old_done and next_pos >= spool.boot_pos and len(recs) < self.w.opts.batch:
            for bkey in sorted(k for k in pending if k < spool.boot_pos):
                b = pending.pop(bkey)
                if b is not None:
                    todo.append((bkey, b, None))
            self.old_done = True
            consumed += 1
        low = min(pending) if pending else next_pos
        if not todo:
            self.read_pos = next_pos
            return consumed
        self.load_keys(sink, todo)
        old_head = self.head_seq
        rows: list[EventRow] = []
        cps: list[Checkpoint] = []
        now = time.monotonic()

        def chunks() -> Iterator[list[EventRow]]:
            # Built while the sink already stores the previous chunk (PostgreSQL: the
            # server inserts the COPY data it has received while this thread builds more).
            prev, seq = self.head_hash, old_head
            for i in range(0, len(todo), _CHUNK):
                part = self.build(todo[i : i + _CHUNK], prev, seq)
                if part:
                    rows.extend(part)
                    prev, seq = part[-1].hash, part[-1].seq
                    yield part

        def finish() -> tuple[InstanceState, list[Checkpoint]]:
            # Inside the sink's transaction, before its commit: the new head, a signed
            # checkpoint when one is due, and the JSONL copy (at least once).
            head_seq = old_head + len(rows)
            head_hash = rows[-1].hash if rows else self.head_hash
            if rows and (self.since_cp + len(rows) >= self.w.opts.checkpoint_every
                         or now - self.last_cp >= self.w.opts.checkpoint_interval):
                cps.append(sign_checkpoint(self.w._signing, self.inst, head_seq, head_hash, time.time(), "periodic"))
            self.jsonl(rows)
            return InstanceState(self.inst, head_seq, head_hash, low), cps

        sink.write_chunks(chunks(), finish, old_head)
        head_seq = old_head + len(rows)
        head_hash = rows[-1].hash if rows else self.head_hash
        self.since_cp += len(rows)
        if cps:
            self.since_cp, self.last_cp = 0, now
        self.head_seq, self.head_hash = head_seq, head_hash
        self.read_pos = next_pos
        self.shipped_total += len(rows)
        if shipped:
            self.shipped = {k for k in shipped if k >= low}
        spool.release(low)
        return consumed or len(rows)

    def load_keys(self, sink: AuditSink, todo: list[tuple[int, Any, Any]]) -> None:
        """Make sure the key cache holds a fresh pseudonym of every subject of ``todo``,
        loading (or creating) missing keys."""
        now = time.monotonic()
        cache = self.keys  # lookup -> (pseudonym, loaded at)
        need = missing_subjects(todo, cache, now, self.w.opts.subject_key_ttl)
        if need:
            if len(cache) > 100_000:
                cache.clear()
            for lk, k in sink.subject_keys(sorted(need), create=True).items():
                cache[lk] = (pseudonym(k, lk), now)

    def build(self, todo: list[tuple[int, Any, Any]], prev: str, seq: int) -> list[EventRow]:
        """Events for ``todo`` chained after (``seq``, ``prev``), subjects resolved through
        the key cache (``s_unresolved`` when missing). Compiled: cpragate.audit.events."""
        rows: list[EventRow] = build_rows(todo, self.keys, self.inst, prev, seq, EventRow)
        return rows

    def jsonl(self, rows: list[EventRow]) -> None:
        path = self.w.opts.jsonl_path
        if path is None or not rows:
            return
        if self._jsonl is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl = path.open("ab")
        self._jsonl.write(
            b"".join(
                _dumps({"hash": r.hash, "prev": r.prev, "event": orjson.Fragment(r.body)}, option=_NL) for r in rows
            )
        )
        self._jsonl.flush()

    def final_checkpoint(self) -> None:
        if self.sink is None or not self.recovered or self.since_cp == 0:
            return
        cp = sign_checkpoint(self.w._signing, self.inst, self.head_seq, self.head_hash, time.time(), "periodic")
        low = min(self.pending) if self.pending else self.read_pos
        self.sink.write([], InstanceState(self.inst, self.head_seq, self.head_hash, low), self.head_seq, [cp])
        self.since_cp = 0


def open_audit(cfg: Any, state_dir: Path) -> AuditWriter:
    """Open the spool and keys of ``cfg`` (a ``filters.audit`` config) and start the writer."""
    import socket

    sd = str(state_dir)
    spool_dir = Path(cfg.spool.dir.replace("{state_dir}", sd))
    secret = cfg.signing_key.get_secret_value() if cfg.signing_key is not None else None
    signing = load_signing_key(secret, state_dir / "audit-signing-key.pem")
    mk = cfg.pseudonym_key.get_secret_value() if cfg.pseudonym_key is not None else None
    master = load_master_key(mk, state_dir / "audit-pseudonym.key")
    spool = Spool(
        spool_dir,
        max_bytes=cfg.spool.max_bytes,
        segment_bytes=cfg.spool.segment_bytes,
        fsync_window=cfg.spool.fsync_window_ms / 1000.0,
    )
    opts = WriterOptions(
        sink_url=cfg.sink.replace("{state_dir}", sd),
        table_prefix=cfg.table_prefix,
        instance_prefix=cfg.instance_id or socket.gethostname().split(".")[0] or "gw",
        checkpoint_every=cfg.checkpoint.every_events,
        checkpoint_interval=cfg.checkpoint.every_seconds,
        jsonl_path=Path(cfg.jsonl.replace("{state_dir}", sd)) if cfg.jsonl else None,
    )
    w = AuditWriter(spool, master, signing, opts)
    w.start()
    return w
