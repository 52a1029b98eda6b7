from pathlib import Path

from cpragate.storage.audit_spool import Spool


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
