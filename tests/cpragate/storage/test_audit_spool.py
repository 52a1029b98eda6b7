import errno
import os
from pathlib import Path
from typing import Any

import orjson

from cpragate.storage.audit_spool import _HAND_BYTES, Spool, SpoolRecord


def rec(i: int, size: int = 40) -> bytes:
    return (b'["x",%d,"' % i) + b"p" * size + b'"]\n'


def test_append_read_round_trip(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16, fsync_window=0.01)
    try:
        pos = [s.append(rec(i), True) for i in range(10)]
        assert all(p is not None for p in pos) and pos == sorted(pos)  # type: ignore[type-var]
        got, nxt = s.read(0)
        assert [r.data for r in got] == [rec(i)[:-1] for i in range(10)]
        assert [r.pos for r in got] == pos
        assert all(type(r) is SpoolRecord for r in got) and tuple(got[0]) == (pos[0], rec(0)[:-1])
        more, nxt2 = s.read(nxt)
        assert more == [] and nxt2 == nxt
        assert s.read(pos[5])[0][0].data == rec(5)[:-1]
    finally:
        s.close()


def test_rotation_full_and_release(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=64 * 1024, segment_bytes=16 * 1024, fsync_window=0)
    try:
        n = 0
        while s.append(rec(n, 200), True) is not None:
            n += 1
        assert s.full and s.full_since is not None and 200 < n < 400
        # completions still fit in the reserve: an exchange already forwarded keeps its record
        assert s.append(rec(9999, 200), False) is not None
        got, nxt = s.read(0, limit=100_000)
        assert len(got) == n + 1
        assert len(list(s.segments())) >= 4
        freed = s.release(nxt)
        assert freed > 0 and not s.full
        assert s.append(rec(1, 200), True) is not None
    finally:
        s.close()


def test_restart_takes_the_same_slot_and_sees_old_segments(tmp_path: Path) -> None:
    a = Spool(tmp_path, fsync_window=0)
    b = Spool(tmp_path, fsync_window=0)  # a second process: its own slot
    assert (a.slot, b.slot) == (0, 1)
    p = a.append(rec(1), True)
    b.close()
    a.close()  # as after kill -9: the lock goes with the process, the file stays
    c = Spool(tmp_path, fsync_window=0)
    try:
        assert c.slot == 0 and p is not None and p < c.boot_pos
        got, nxt = c.read(0)
        assert [r.pos for r in got] == [p] and nxt >= p
        assert c.append(rec(2), True) is not None
    finally:
        c.close()


def test_torn_record_is_skipped(tmp_path: Path) -> None:
    a = Spool(tmp_path, fsync_window=0)
    a.append(rec(1), True)
    seg = next(iter(a.segments()))
    a.close()
    path = tmp_path / "0" / f"{seg[0]:010d}.seg"
    data = bytearray(path.read_bytes())
    end = data.index(b"\x00")
    data[end : end + 5] = b'["b",'  # a record cut by an OS crash
    path.write_bytes(bytes(data))
    b = Spool(tmp_path, fsync_window=0)
    try:
        got, _ = b.read(0)
        assert [r.data for r in got] == [rec(1)[:-1]]
    finally:
        b.close()


def test_closed_spool_refuses(tmp_path: Path) -> None:
    s = Spool(tmp_path)
    s.close()
    assert s.append(rec(1), True) is None


def test_a_full_disk_refuses_begins_but_never_loses_a_completion(tmp_path: Path, monkeypatch: Any) -> None:
    """The reserve is physical: the next segment exists before it is needed, so when the
    disk fills, begins are refused and the completions of forwarded requests still fit."""
    import cpragate.storage.audit_spool as mod

    real = os.posix_fallocate
    disk_full = [False]

    def fallocate(fd: int, off: int, size: int) -> None:
        if disk_full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, off, size)

    monkeypatch.setattr(mod.os, "posix_fallocate", fallocate)
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=0)
    try:
        assert s.spare is not None
        disk_full[0] = True
        # Requests one after another (begin, then its completion) until a begin is refused:
        # every begin accepted gets its completion, on a disk with no space left.
        served = 0
        while s.append(rec(served, 100), True) is not None:
            assert s.append(rec(10_000 + served, 100), False) is not None, "a completion was lost"
            served += 1
        assert s.full and s.spare is None and served >= 17  # a segment's worth, then one into the spare
        # Exchanges in flight when the spare becomes the last segment there is: begins stop,
        # their completions fit.
        disk_full[0] = False
        s2 = Spool(tmp_path / "burst", max_bytes=1 << 20, segment_bytes=4096, fsync_window=0)
        disk_full[0] = True
        try:
            for i in range(34):  # the current segment is full to its last record
                assert s2.append(rec(30_000 + i, 100), False) is not None
            begins = []
            while len(begins) < 20 and (p := s2.append(rec(len(begins), 100), True)) is not None:
                begins.append(p)
            assert len(begins) >= 1 and s2.spare is None
            for i in range(len(begins)):
                assert s2.append(rec(20_000 + i, 100), False) is not None, "a completion was lost"
        finally:
            s2.close()
        disk_full[0] = True
        assert s.dropped == 0
        got, _ = s.read(0, limit=100_000)
        assert len(got) == 2 * served
        assert [r.pos for r in got] == sorted(r.pos for r in got)
        disk_full[0] = False
        s._spare_retry = 0.0  # the retry pause (0.2 s) is over
        assert s.append(rec(1, 100), True) is not None and s.spare is not None
    finally:
        s.close()


def test_a_record_larger_than_a_segment_keeps_positions_increasing(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=0)
    try:
        a = s.append(rec(1), True)
        big = s.append(rec(2, 10_000), True)  # its own segment, above the spare it replaces
        c = s.append(rec(3), True)
        d = [s.append(rec(4 + i, 200), True) for i in range(40)]  # rotates again
        pos = [a, big, c, *d]
        assert None not in pos and pos == sorted(pos)  # type: ignore[type-var]
        got, _ = s.read(0, limit=1000)
        assert [r.pos for r in got] == pos
    finally:
        s.close()


def test_unread_counts_the_bytes_after_a_read_position(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=0)
    try:
        _, pos = s.read(0)
        assert s.unread(pos) == 0
        s.append(rec(1), True)
        assert s.unread(pos) == len(rec(1))
        _, pos = s.read(pos)
        assert s.unread(pos) == 0
        for i in range(60):  # into the next segment: everything before it waits
            s.append(rec(i, 100), True)
        assert s.unread(pos) >= 1 << 32
    finally:
        s.close()
    assert s.unread(0) == 0  # closed


def test_the_hand_over_table_is_bounded_and_only_holds_accepted_records(tmp_path: Path) -> None:
    s = Spool(tmp_path / "s", fsync_window=0, handover=3, max_bytes=64 << 10, segment_bytes=16 << 10)
    try:
        recs = [["b", i, "x" * 10] for i in range(5)]
        pos = [s.append(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE), True, r) for r in recs]
        assert len(s.handed) == 3 and all(h[0] == p and h[1] is r for h, p, r in zip(s.handed, pos[:3], recs[:3], strict=True))
        s.handed.clear()
        big = ["c", 1, "y" * _HAND_BYTES]
        assert s.append(orjson.dumps(big, option=orjson.OPT_APPEND_NEWLINE), False, big) is not None and not s.handed  # too large
        assert s.append(b'["c"]\n', False) is not None and not s.handed  # no record given
        s.used = s.max_bytes + (1 << 20)  # full: a begin is refused, and not handed over either
        assert s.append(b'["b"]\n', True, ["b"]) is None and not s.handed
        s.used -= 1 << 20
        assert s.append(b'["c"]\n', False, ["c"]) is not None and len(s.handed) == 1
    finally:
        s.close()
    assert not s.handed  # closing drops what the writer did not take


def _ino(path: Path) -> int:
    return os.stat(path).st_ino


def test_sync_is_fdatasync_on_a_duplicate_outside_the_lock(tmp_path: Path, monkeypatch: Any) -> None:
    # mmap.flush() holds the GIL through the whole msync (CPython 3.11), stopping the event
    # loop for as long as the disk takes; os.fdatasync releases it, and on Linux it syncs
    # the same pages (msync(MS_SYNC) of a shared file mapping is vfs_fsync_range).
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=3600)  # the thread waits
    synced: list[int] = []
    real = os.fdatasync

    def spy(fd: int) -> None:
        assert not s._lock.locked()  # the event loop's rotation never waits for a disk
        assert s.cur is None or fd != s.cur.fd  # a duplicate: a segment released meanwhile stays valid
        synced.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    try:
        first = s.cur
        assert first is not None
        s.sync()
        assert synced == []  # nothing appended: nothing to sync
        assert s.append(rec(0), True) is not None
        s.sync()
        assert synced == [_ino(first.path)]
        s.sync()
        assert len(synced) == 1  # clean since: not again
        # a rotation leaves the old segment to the fsync thread (not synced on the loop)
        while s.cur is first:
            assert s.append(rec(1, 200), True) is not None
        assert len(synced) == 1 and s._retired == [first]
        s.sync()
        assert s.cur is not None
        assert synced[1:] == [_ino(first.path), _ino(s.cur.path)] and s._retired == []
    finally:
        monkeypatch.undo()  # close() syncs under the lock: nothing runs any more
        s.close()


def test_a_left_segment_released_before_its_sync_is_skipped(tmp_path: Path, monkeypatch: Any) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=3600)
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(os.fstat(fd).st_ino))
    try:
        first = s.cur
        assert first is not None
        while s.cur is first:
            assert s.append(rec(2, 200), True) is not None
        _, nxt = s.read(0, limit=100_000)
        assert s.release(nxt) > 0 and first.fd == -1  # shipped and closed by the writer
        s.sync()
        assert s.cur is not None and synced == [_ino(s.cur.path)] and s._retired == []
    finally:
        monkeypatch.undo()
        s.close()


def test_a_failed_sync_is_logged_and_leaks_no_descriptor(tmp_path: Path, monkeypatch: Any, caplog: Any) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16, fsync_window=3600)

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    try:
        assert s.append(rec(3), True) is not None
        fds = len(os.listdir("/proc/self/fd"))
        monkeypatch.setattr(os, "fdatasync", eio)
        s.sync()
        assert len(os.listdir("/proc/self/fd")) == fds
        assert "CPG-AUD-003" in caplog.text and "OSError" in caplog.text
        monkeypatch.undo()
        assert s.append(rec(4), True) is not None  # the spool goes on
    finally:
        s.close()


def test_read_with_take_returns_handed_records_at_the_same_positions_and_takes_them(tmp_path: Path) -> None:
    """``read(take=True)`` (the writer): handed-over records come back themselves, the others
    as bytes, at exactly the positions and up to the next position a plain read gives, across
    segment rotations, limits, records not handed over (too large, no record, table full)
    and records already taken (read again: bytes)."""
    s = Spool(tmp_path / "s", fsync_window=0, handover=40, max_bytes=1 << 20, segment_bytes=8 << 10)
    try:
        recs: list[list[Any]] = []
        for i in range(120):
            r: list[Any] = ["b", i, "x" * (i % 7 * 60)]
            if i % 11 == 5:
                r[2] = "y" * (_HAND_BYTES + 1)  # too large to hand over
            recs.append(r)
            line = orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)
            assert s.append(line, i % 2 == 0, None if i % 13 == 3 else r) is not None
        assert len(s.handed) == 40  # the table filled up: the later records are only spooled
        before = list(s.handed)
        handed_at = {h[0]: h[1] for h in before}
        plain: list[SpoolRecord] = []
        pos = 0
        while True:
            got, nxt = s.read(pos, 17)
            if not got:
                break
            plain += got
            pos = nxt
        assert len(plain) == 120 and s.handed == before  # a plain read takes nothing
        taken: list[tuple[int, Any]] = []
        pos, ends = 0, []
        while True:
            got2, nxt = s.read(pos, 17, take=True)
            if not got2:
                break
            taken += got2
            ends.append(nxt)
            pos = nxt
        assert not s.handed and [t[0] for t in taken] == [r.pos for r in plain]
        # plain tuples, (pos, data) first: a pair, or a handed record's own (pos, record, length) entry
        assert all(type(t) is tuple and len(t) == (3 if t[0] in handed_at else 2) for t in taken)
        assert all(t[2] == len(orjson.dumps(t[1], option=orjson.OPT_APPEND_NEWLINE)) for t in taken if len(t) == 3)
        assert ends[-1] == s.read(0, 1000)[1]
        for (tpos, tdata, *_), p, r in zip(taken, plain, recs, strict=True):
            if tpos in handed_at:
                assert tdata is handed_at[tpos] is r
            else:
                assert type(tdata) is bytes and tdata == p.data
            assert orjson.loads(p.data) == r
        again, _ = s.read(0, 1000, take=True)  # taken once: read again, they are bytes
        assert [t[1] for t in again] == [r.data for r in plain]
    finally:
        s.close()


def test_a_zero_window_syncs_each_record_with_fdatasync(tmp_path: Path, monkeypatch: Any) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16, fsync_window=0)
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(fd))
    try:
        assert s.cur is not None
        for i in range(3):
            assert s.append(rec(i), True) is not None
        assert synced == [s.cur.fd] * 3
    finally:
        s.close()


def test_a_line_without_its_newline_is_not_handed_over(tmp_path: Path) -> None:
    s = Spool(tmp_path / "s", fsync_window=0)
    try:
        assert s.append(b'["b",1]', True, ["b", 1]) is not None and not s.handed
        assert s.append(b'\n["b",2]\n', True, ["b", 2]) is not None and len(s.handed) == 1
    finally:
        s.close()


def test_read_with_take_drops_entries_below_the_read_position_and_keeps_those_beyond_the_limit(tmp_path: Path) -> None:
    s = Spool(tmp_path / "s", fsync_window=0)
    try:
        recs = [["b", i] for i in range(5)]
        pos = [s.append(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE), True, r) for r in recs]
        got, nxt = s.read(pos[1], 2, take=True)  # starts past the first: its entry can never be read
        assert [t[:2] for t in got] == [(pos[1], recs[1]), (pos[2], recs[2])] and nxt == pos[3]
        assert [h[0] for h in s.handed] == pos[3:]  # beyond the limit: still there
        got, _ = s.read(nxt, 10, take=True)
        assert [t[:2] for t in got] == [(pos[3], recs[3]), (pos[4], recs[4])] and got[0][1] is recs[3]
        assert not s.handed
    finally:
        s.close()


def test_a_sync_during_a_rotation_still_syncs_the_segment_left(tmp_path: Path, monkeypatch: Any) -> None:
    # The spare's creation (fallocate, directory fsync) runs after ``cur`` has changed: a
    # window falling then must sync the segment just left, not only the new empty one.
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, fsync_window=3600)
    synced: list[int] = []
    real_sync, real_falloc = os.fdatasync, os.posix_fallocate

    def spy(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_sync(fd)

    def falloc(fd: int, offset: int, size: int) -> None:
        s.sync()  # the fsync thread's window, while the rotation makes the next spare
        real_falloc(fd, offset, size)

    try:
        first = s.cur
        assert first is not None and s.spare is not None
        monkeypatch.setattr(os, "fdatasync", spy)
        monkeypatch.setattr(os, "posix_fallocate", falloc)
        while s.cur is first:
            assert s.append(rec(6, 200), True) is not None
        assert _ino(first.path) in synced
    finally:
        monkeypatch.undo()
        s.close()
