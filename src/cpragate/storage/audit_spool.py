"""The local append-only audit spool: memory-mapped segment files, fsync per window.

Theory of operation:

* A spool folder holds up to 64 *slots* (``0/``, ``1/``...). A process takes the first
  slot it can lock (``flock``); the lock dies with the process, so a gateway restarted
  after ``kill -9`` gets its slot back and replays it. The slot number is part of the
  instance id, so ``--workers N`` gives N instances with their own chains.
* A slot holds segment files ``<id>.seg`` (``id``: Unix seconds at creation, always above
  the previous one). A segment is preallocated (``posix_fallocate``, so a full disk
  fails at creation, never as SIGBUS on a write) and memory-mapped. A record is one
  JSON line copied into the map: no system call per record. The pages belong to the
  kernel at once, so a *process* crash loses nothing; an fsync thread makes the map
  durable every ``fsync_window`` seconds, so an *OS* crash loses at most that window.
* That sync never holds the GIL, nor the lock the event loop may take: on Linux it is
  ``fdatasync`` on a duplicate of the segment's descriptor (Linux's ``msync(MS_SYNC)`` of
  a shared file mapping *is* ``vfs_fsync_range`` on its file, so the same pages reach the
  disk), which CPython runs with the GIL released. ``mmap.flush()`` holds the GIL for the
  whole ``msync`` (CPython 3.11; gh-44098 released it only around ``mmap()``): every
  window stopped the event loop for as long as the disk took, ~0.1 ms typically and over
  100 ms on a slow or busy disk (the demo policy's p99 in bench/RESULTS.md, session 9).
  A segment the event loop leaves (rotation) is synced by the fsync thread too, not on
  the loop. Other platforms keep ``mmap.flush()``.
* A record's position is ``id << 32 | offset``: unique per slot, increasing, and
  stable across restarts (it keys dedup in the sink).
* Bytes after the last record are zero; readers stop at the first NUL. A segment made
  by an earlier process (``id < boot_id``) is complete: nothing appends to it again.
* The writer thread reads what the event loop wrote (never past the published write
  offset, so never a half-copied record) and deletes segments once everything in them
  is shipped (:meth:`release`).
* In-process hand-over: the caller that built a record may leave the record itself
  (the list it dumped) in :attr:`Spool.handed` (its ``record`` argument), with the position
  :meth:`Spool.append` returned and the length of its line, in position order; the writer
  thread takes it from there when it reads that position (:meth:`read` with ``take``) instead of
  parsing the bytes again (``orjson.loads`` and the freeing of a second copy: ~30k
  instructions per event), and skips its bytes without copying them (the length says
  where the next record starts). The spool bytes stay the durable copy:
  replay after a restart, a record read a second time after a writer failure, one too
  large or one that found the table full are parsed as before. The table is bounded
  (``handover`` records, each at most ``_HAND_BYTES`` of JSON): while the writer does not
  read (sink down, spool full, writer stalled) it stops growing and the records are only
  spooled. A handed record is never changed afterwards (the writer reads exactly what
  ``orjson.loads`` of its bytes would give: lists, dicts, str, int, float, bool, None).
* Size bound: new requests (``kind="begin"``) are refused once the spool holds
  ``max_bytes``; completions and single events may use a reserve of two more segments,
  so an exchange already forwarded is never left without its completion. Events of the
  admin API are appended as ``begin=True``: they never take the reserve.
* That reserve is physical, not only counted: the *next* segment (the spare) is always
  created ahead of need, and a begin is refused (503) while there is none. When the
  disk fills, the spare cannot be replaced, so new requests are refused, while the
  completions of the requests already forwarded still go into the spare that exists.
  (Before, a begin could be accepted at the end of a segment whose successor could not
  be created, and its completion was lost: ``tests/e2e/test_faults.py``.)
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, NamedTuple

from cpragate.errors import AuditSpoolError

__all__ = ["Spool", "SpoolRecord"]

log = logging.getLogger("cpragate.audit")

MAX_SLOTS = 64
_SHIFT = 32
_OFF_MASK = (1 << _SHIFT) - 1
_UNREAD_OTHER = 1 << 62
_HAND_BYTES: Final = 4096
"""Records larger than this (as JSON) are not handed over: the hand-over table holds at most
``handover * _HAND_BYTES`` bytes of JSON (8 MiB by default) as objects, which take a few
times that (a demo-like begin ≈ 1 KB, completion ≈ 4 KB: ≈ 5 MB when the table is full)."""


class SpoolRecord(NamedTuple):
    pos: int
    data: Any
    """The record's bytes (its JSON line without the newline); from :meth:`Spool.read` with
    ``take``, the record itself for a record that was handed over in-process."""


_tuple_new: Final[Callable[[Any, tuple[Any, ...]], Any]] = tuple.__new__
"""Makes a SpoolRecord without the named tuple's Python ``__new__`` (~2k instructions per
record, two per event)."""


class _Segment:
    __slots__ = ("base", "fd", "id", "mm", "path", "size")

    def __init__(self, seg_id: int, path: Path, fd: int, mm: mmap.mmap | None, size: int) -> None:
        self.id = seg_id
        self.base = seg_id << _SHIFT
        """The position of the segment's first byte (beyond 62 bits: a boxed int, made once)."""
        self.path = path
        self.fd = fd
        self.mm = mm
        self.size = size


class Spool:
    """One slot of a spool folder, owned by this process (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
        fsync_window: float = 0.02,
        handover: int = 2048,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, min(segment_bytes, max_bytes))
        self.fsync_window = fsync_window
        self.slot, self.dir, self._lock_fd = _take_slot(folder)
        self._lock = threading.Lock()  # segment list changes (rotation, release)
        self._segments: list[_Segment] = []
        for p in sorted(self.dir.glob("*.seg")):
            try:
                seg_id = int(p.stem)
            except ValueError:
                continue
            self._segments.append(_Segment(seg_id, p, -1, None, p.stat().st_size))
        self.boot_id = self._next_id()
        self.cur: _Segment | None = None
        self.off = 0
        self.used = sum(s.size for s in self._segments)
        """Bytes of every segment file (they are preallocated)."""
        self.dirty = False
        self._retired: list[_Segment] = []
        """Segments the event loop has left since the last sync (the fsync thread syncs them)."""
        self.dropped = 0
        self.full_since: float | None = None
        self._closed = False
        self.handed: list[tuple[int, Any, int]] = []
        """Records handed over in-process as ``(position, record, length of its line)``, in
        position order (see the module docstring): appended by :meth:`append` (before the
        position is published), taken from the front by the writer thread's :meth:`read`
        (a list, not a dict by position: an append and a read of the next entry per record
        instead of a hash insert, lookup and delete of a 64-bit key)."""
        self.handover = max(0, handover)
        """The most records :attr:`handed` holds (0: no hand-over)."""
        self._new_segment(self.boot_id)
        self.spare: _Segment | None = None
        """The next segment, preallocated before it is needed (see the module docstring)."""
        self._spare_retry = 0.0
        self._ensure_spare()
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync_window > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="cpragate-audit-fsync", daemon=True)
            self._syncer.start()

    # --- the hot path (event loop thread) -----------------------------------------------
    def append(self, data: bytes, begin: bool, record: list[Any] | None = None) -> int | None:
        """Append one record (a JSON line); its position, or None when the spool is full.

        A refused ``begin`` is the caller's signal to answer 503; a refused completion is
        counted in ``dropped`` and logged by the caller. ``record``: what ``data`` is the
        JSON of, never changed afterwards, handed over to the writer thread while
        :attr:`handed` has room (see the module docstring).
        """
        n = len(data)
        cur = self.cur
        if cur is None:
            return None
        off = self.off
        if begin and (
            self.used - cur.size + off + n > self.max_bytes or (self.spare is None and not self._ensure_spare())
        ):
            self._mark_full()
            return None
        if off + n > cur.size:
            if not self._rotate(n, begin):
                if not begin:
                    self.dropped += 1
                return None
            cur = self.cur
            assert cur is not None
            off = 0
        mm = cur.mm
        assert mm is not None
        mm[off : off + n] = data
        pos = cur.base | off
        if record is not None and n <= _HAND_BYTES and data[n - 1] == 10:  # a whole line
            handed = self.handed
            if len(handed) < self.handover:  # before the record is published: the writer finds it
                handed.append((pos, record, n))
        self.off = off + n  # published after the copy: readers never see half a record
        self.dirty = True
        if self.fsync_window == 0:
            _datasync(cur.fd, mm)
        return pos

    @property
    def full(self) -> bool:
        """A begin was refused and no segment has been freed since."""
        return self.full_since is not None

    def _mark_full(self) -> None:
        if self.full_since is None:
            self.full_since = time.monotonic()

    def _ensure_spare(self) -> bool:
        """Create the spare segment if there is none (retried at most every 0.2 s)."""
        if self.spare is not None:
            return True
        now = time.monotonic()
        if now < self._spare_retry or self.cur is None:
            return False
        if self.used + self.segment_bytes > self.max_bytes + 2 * self.segment_bytes:
            return False
        try:
            self.spare = self._new_segment(self._next_id(), current=False)
        except OSError as e:
            self._spare_retry = now + 0.2
            log.error("CPG-AUD-003: audit spool segment cannot be created (%s)", type(e).__name__)
            return False
        return True

    def _rotate(self, n: int, begin: bool) -> bool:
        old = self.cur
        spare = self.spare
        if old is not None and old.mm is not None and self.fsync_window > 0:
            # Its last window is synced by the fsync thread, not on the loop. Listed before
            # ``cur`` changes: a sync between the switch and the spare's creation (a 16 MiB
            # fallocate) must not see only the new, empty segment. If the rotation fails,
            # the segment stays current and is synced once more: harmless.
            with self._lock:
                self._retired.append(old)
        if spare is not None and spare.size >= n + 1:
            with self._lock:  # the spare (already counted in ``used``) becomes current
                self.spare = None
                self.cur = spare
                self.off = 0
            self._ensure_spare()
        else:  # no spare, or a record larger than a segment
            size = max(self.segment_bytes, n + 1)
            limit = self.max_bytes if begin else self.max_bytes + 2 * self.segment_bytes
            if self.used + size > limit:
                if begin:
                    self._mark_full()
                return False
            try:
                self._new_segment(self._next_id(), size)
            except OSError as e:
                log.error("CPG-AUD-003: audit spool segment cannot be created (%s)", type(e).__name__)
                return False
            if spare is not None:  # positions only grow: an empty spare below the new segment goes
                with self._lock:
                    self._segments.remove(spare)
                    self.used -= spare.size
                    self.spare = None
                _close(spare)
                spare.path.unlink(missing_ok=True)
            self._ensure_spare()
        return True

    def _next_id(self) -> int:
        last = max((s.id for s in self._segments), default=0)
        return max(int(time.time()), last + 1)

    def _new_segment(self, seg_id: int, size: int | None = None, current: bool = True) -> _Segment:
        size = size or self.segment_bytes
        path = self.dir / f"{seg_id:010d}.seg"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        _fsync_dir(self.dir)
        seg = _Segment(seg_id, path, fd, mm, size)
        with self._lock:
            self._segments.append(seg)
            self.used += size
            if current:
                self.off = 0
                self.cur = seg
        return seg

    # --- durability ---------------------------------------------------------------------
    def sync(self) -> None:
        """Make what was appended durable: the current segment if written since the last
        sync, and the segments left since (the fsync thread calls this once per window).

        The lock is held only to pick the segments and duplicate their descriptors; the
        sync itself runs without it and without the GIL (the module docstring)."""
        with self._lock:
            todo = self._retired
            self._retired = []
            cur = self.cur
            if cur is not None and self.dirty and cur.mm is not None:
                self.dirty = False
                todo.append(cur)
            if not todo:
                return
            if not _FDATASYNC:
                for s in todo:
                    _flush(s.mm)
                return
            fds: list[int] = []
            for s in todo:
                if s.fd >= 0:
                    try:
                        fds.append(os.dup(s.fd))
                    except OSError as e:
                        log.error("CPG-AUD-003: audit spool sync failed (%s)", type(e).__name__)
        for fd in fds:
            try:
                os.fdatasync(fd)
            except OSError as e:
                log.error("CPG-AUD-003: audit spool sync failed (%s)", type(e).__name__)
            finally:
                os.close(fd)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_window):
            self.sync()

    # --- the writer thread ---------------------------------------------------------------
    def read(self, start: int, limit: int = 4096, take: bool = False) -> tuple[list[Any], int]:
        """Up to ``limit`` complete records at or after position ``start``, and where to read next.

        Copies the map in bounded chunks (about what ``limit`` records need), never the
        whole unread backlog, and splits each chunk in one call.

        ``take`` (the writer thread): a record handed over in-process (:attr:`handed`) is
        taken from the table and returned itself in place of its bytes; while the records
        at the read position are handed over, their bytes are skipped, not copied. A
        record read again later (after a writer failure) is no longer in the table: its
        bytes are returned, as for every record without ``take``. With ``take`` the records
        are plain tuples whose first two items are ``(pos, data)`` (a :class:`SpoolRecord`
        costs a Python-level call each): a handed-over record comes as its table entry
        itself, ``(pos, record, length)``, not copied into a new pair."""
        out, pos, used = self._read(start, limit, take)
        if used:  # the entries taken, and any below the read position (never to be read)
            del self.handed[:used]
        return out, pos

    def _read(self, start: int, limit: int, take: bool) -> tuple[list[Any], int, int]:
        """:meth:`read`, and how many entries at the front of :attr:`handed` it used."""
        out: list[Any] = []
        rec_type = SpoolRecord
        handed = self.handed
        hi = 0  # the next entry of ``handed`` (position order, as the records)
        with self._lock:
            segs = [s for s in self._segments if (s.id << _SHIFT) + s.size > start]
            cur, cur_off = self.cur, self.off
        pos = start
        for seg in segs:
            base = seg.base
            off = max(0, pos - base) if pos >= base else 0
            end = cur_off if seg is cur else seg.size
            chunk = max(64 << 10, (limit - len(out)) * 512)
            tail = b""
            while off < end:
                if take and hi < len(handed):  # handed over: taken, their bytes skipped (never half a
                    key = base | off  # record: the entry was appended before the offset was published)
                    h = handed[hi]
                    while h[0] < key:  # an entry below the read position: never read, dropped
                        hi += 1
                        if hi >= len(handed):
                            break
                        h = handed[hi]
                    if h[0] == key:
                        hi += 1
                        out.append(h)  # (pos, record, length): the entry itself, no new pair
                        off += h[2]
                        if len(out) >= limit:
                            break
                        continue
                stop_at = min(end, off + chunk)
                data = self._bytes(seg, off, stop_at)
                if data is None:  # closed under us (released)
                    break
                stop = data.find(b"\x00")
                if stop >= 0:  # bytes after the last record are zero
                    data = data[:stop]
                    stop_at = end
                parts = data.split(b"\n")
                tail = parts.pop()  # after the last newline: a partial (or torn) record, or b""
                want = limit - len(out)
                if len(parts) > want:
                    del parts[want:]
                    tail = b""
                if not parts and stop_at < end:  # one record longer than the chunk
                    chunk *= 2
                    continue
                p = off
                for rec in parts:
                    q = base | p
                    if not take:
                        out.append(_tuple_new(rec_type, (q, rec)))
                    else:
                        taken: Any = None
                        while hi < len(handed):
                            h = handed[hi]
                            if h[0] > q:
                                break
                            hi += 1
                            if h[0] == q:
                                taken = h
                                break
                        out.append((q, rec) if taken is None else taken)
                    p += len(rec) + 1
                off = p
                if len(out) >= limit or stop_at >= end:
                    break
            pos = base | off
            if len(out) >= limit or seg is cur:
                return out, pos, hi
            if tail:  # a torn last record (OS crash): skip it
                log.warning("audit spool %s ends with a torn record; it is skipped", seg.path.name)
            pos = (seg.id + 1) << _SHIFT
        return out, pos, hi

    def unread(self, pos: int) -> int:
        """Bytes appended at or after position ``pos`` (a read position of :meth:`read`);
        ``_UNREAD_OTHER`` when ``pos`` is not in the current segment (a whole segment, or
        the rest of one, is waiting)."""
        cur = self.cur
        if cur is None:
            return 0
        if pos >> _SHIFT != cur.id:
            return _UNREAD_OTHER
        return max(0, self.off - (pos & _OFF_MASK))

    def _bytes(self, seg: _Segment, off: int, end: int) -> bytes | None:
        if end <= off:
            return b""
        if seg.mm is not None:
            try:
                return seg.mm[off:end]
            except ValueError:  # closed under us (released)
                return None
        try:
            with seg.path.open("rb") as fh:
                fh.seek(off)
                return fh.read(end - off)
        except OSError:
            return None

    def release(self, upto: int) -> int:
        """Delete the segments wholly before position ``upto`` (shipped); bytes freed."""
        freed = 0
        with self._lock:
            keep: list[_Segment] = []
            for s in self._segments:
                if s is not self.cur and ((s.id + 1) << _SHIFT) <= upto and s.id < (upto >> _SHIFT):
                    freed += s.size
                    _close(s)
                    s.path.unlink(missing_ok=True)
                else:
                    keep.append(s)
            self._segments = keep
            self.used -= freed
        if freed:
            self.full_since = None
        return freed

    def segments(self) -> Iterator[tuple[int, int]]:
        """(segment id, size) of every segment, oldest first."""
        with self._lock:
            return iter([(s.id, s.size) for s in self._segments])

    @property
    def boot_pos(self) -> int:
        """Positions below this were written by an earlier process."""
        return self.boot_id << _SHIFT

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        with self._lock:
            for s in self._segments:
                if s.mm is not None:
                    try:
                        _datasync(s.fd, s.mm)
                    except (OSError, ValueError):
                        pass
                _close(s)
            self._retired.clear()
            self.cur = None
        self.handed.clear()
        try:
            os.close(self._lock_fd)
        except OSError:
            pass


_FDATASYNC: Final = sys.platform.startswith("linux")
"""Sync a segment with ``fdatasync`` on its descriptor (GIL released) instead of
``mmap.flush()`` (GIL held): equivalent on Linux only (the module docstring)."""


def _datasync(fd: int, mm: mmap.mmap) -> None:
    """Make ``mm``'s pages durable (raises OSError/ValueError as ``mmap.flush`` does)."""
    if _FDATASYNC and fd >= 0:
        os.fdatasync(fd)
    else:
        mm.flush()


def _flush(mm: mmap.mmap | None) -> None:
    if mm is None:
        return
    try:
        mm.flush()
    except (OSError, ValueError) as e:
        log.error("CPG-AUD-003: audit spool sync failed (%s)", type(e).__name__)


def _close(s: _Segment) -> None:
    if s.mm is not None:
        try:
            s.mm.close()
        except (BufferError, ValueError):
            pass
        s.mm = None
    if s.fd >= 0:
        os.close(s.fd)
        s.fd = -1


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _take_slot(folder: Path) -> tuple[int, Path, int]:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise AuditSpoolError(f"audit spool folder {folder} cannot be created ({type(e).__name__}).") from None
    for i in range(MAX_SLOTS):
        d = folder / str(i)
        try:
            d.mkdir(exist_ok=True, mode=0o700)
            fd = os.open(d / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise AuditSpoolError(f"audit spool folder {d} is not writable ({type(e).__name__}).") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return i, d, fd
    raise AuditSpoolError(f"all {MAX_SLOTS} slots of audit spool {folder} are in use by other processes.")
