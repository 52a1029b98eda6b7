"""The spool's in-process hand-over (storage/audit_spool.py, ``Spool.handed``): the writer
takes the records the event loop built instead of parsing their bytes again, and stores
exactly what it stores without the hand-over; the table stays bounded."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from cpragate.audit.keys import load_signing_key
from cpragate.storage.audit_spool import _HAND_BYTES, Spool
from cpragate.storage.audit_writer import AuditWriter, WriterOptions, _Shipper

NL = orjson.OPT_APPEND_NEWLINE
MASTER = b"k" * 32
TABLES = ("events", "subjects", "subject_keys", "instances", "checkpoints")


def writer(tmp: Path, handover: int) -> AuditWriter:
    """A writer on ``tmp`` (its signing key beside it: shared by the golden runs)."""
    spool = Spool(tmp / "spool", fsync_window=0, segment_bytes=64 << 10, handover=handover)
    opts = WriterOptions(sink_url=f"sqlite:///{tmp}/audit.db", instance_prefix="g", checkpoint_every=97, batch=150)
    return AuditWriter(spool, MASTER, load_signing_key(None, tmp.parent / "k.pem"), opts)


def put(w: AuditWriter, rec: list[Any], begin: bool) -> int | None:
    """As the audit filter's fast path appends (record handed over)."""
    return w.spool.append(orjson.dumps(rec, option=NL), begin, rec)


def annotations(rnd: random.Random, big: bool) -> dict[str, Any] | None:
    k = rnd.randrange(6)
    if k == 0:
        return None
    out: dict[str, Any] = {}
    if k in (1, 3, 5):
        p: dict[str, Any] = {"categories": {"identifiers": rnd.randrange(9), "customer_records": 2},
                             "entities": {"EMAIL": 1, "US_SSN": rnd.randrange(3), "Ünïcode ☃": 1},
                             "spi": rnd.randrange(3), "actions": {"mask": 1, "allow": 4}}
        if rnd.random() < 0.3:
            p["blocked"] = "US_SSN"
        if rnd.random() < 0.5:
            p["request"] = {"categories": {}, "entities": {"PHONE": 2}, "spi": 0}
        out["pii"] = p
    if k in (2, 3):
        out["validation"] = {"outcome": "would_refuse",
                             "violations": [[f"/body/f{i}", "type"] for i in range(rnd.randrange(4))],
                             "stripped": ["/body/role"] if rnd.random() < 0.5 else []}
    if k in (4, 5):
        out["conformance"] = {"outcome": "removed", "removed": {"/items/*/password_hash": rnd.randrange(1, 5)},
                              "violations": []}
        out["minimize"] = {"rule": "consumer:acme", "request_removed": {},
                           "response_removed": {"/ssn": 1, "/dob": rnd.randrange(2)}}
    if big:  # beyond _HAND_BYTES: spooled, never handed over
        out["validation"] = {"outcome": "refused", "violations": [[f"/body/x{i}" * 8, "additionalProperties"]
                                                                   for i in range(64)], "stripped": []}
    return out


def workload(w: AuditWriter, rnd: random.Random, n: int, tag: str, leave_open: int) -> None:
    """``n`` exchanges of every kind; ``leave_open`` begins never completed (a crash follows)."""
    lk = [w.lookup(f"subject-{i}") for i in range(40)]
    opened: list[tuple[int, list[Any]]] = []
    for i in range(n):
        t = 1_800_000_000.0 + i * 0.0137 + rnd.random() / 7
        subj = [lk[rnd.randrange(40)] for _ in range(rnd.randrange(3))]
        consumer = rnd.choice(["acme", "Zoë ☃ corp", None, "b" * 40])
        b = ["b", t, f"{tag}-{i}", rnd.choice(["GET", "POST"]), rnd.choice(["/v1/c/{id}", "/v1/ünï/{id}/x", None]),
             rnd.choice(["get-c", None]), [["id", subj[0] if subj else lk[i % 40]]], subj, consumer,
             rnd.choice(["api_key", "jwt", None]), rnd.choice(["service_provider", None]), "10.0.0.1",
             rnd.random() < 0.7]
        kind = rnd.randrange(10)
        decisions = [[rnd.choice(["authn", "pii", "validation"]), rnd.choice(["allow", "deny", "annotate", "error"]),
                      rnd.choice(["", "found=5", "rule ☃"])] for _ in range(rnd.randrange(4))]
        c = ["c", None, t + 0.002, rnd.choice([200, 201, 404, 500, None]),
             rnd.choice(["served", "denied", "error", "upstream_error"]), rnd.choice([None, "CPG-UP-001"]),
             decisions, annotations(rnd, big=rnd.random() < 0.05), rnd.choice([None, [], [lk[3], 7, lk[5]]]),
             rnd.randrange(5000), rnd.choice([0, 812, 2**40]), rnd.choice([0.1 + 0.2, 1e-7, 12.345, None, 3.0])]
        if kind == 0:  # refused before the begin: one whole event
            c[2] = t
            if rnd.random() < 0.5:
                put(w, ["e", b, c], False)
            else:
                asyncio.run(w.event(["e", b, c]))  # the coroutine path: spooled only
        elif kind == 1:  # a completion whose begin is not in the spool
            c[1] = 7 << 32
            put(w, c, False)
        else:
            via_coroutine = rnd.random() < 0.2
            pos = asyncio.run(w.begin(b)) if via_coroutine else put(w, b, True)
            assert pos is not None
            opened.append((pos, c))
        while len(opened) > leave_open + rnd.randrange(4):  # completions arrive out of order
            bpos, comp = opened.pop(rnd.randrange(len(opened) - leave_open) if leave_open else rnd.randrange(len(opened)))
            comp[1] = bpos
            if rnd.random() < 0.2:
                assert asyncio.run(w.complete(comp))
            else:
                put(w, comp, False)
    if not leave_open:
        for bpos, comp in opened:
            comp[1] = bpos
            put(w, comp, False)


def drain(sh: _Shipper) -> None:
    for _ in range(10_000):
        if not sh.step():
            return
    raise AssertionError("the writer did not drain the spool")


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT * FROM audit_{t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
    finally:
        con.close()


def golden(tmp: Path, handover: int, fail_once: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two processes' worth of traffic (the first dies with begins open and records not
    shipped), every table as stored."""
    seeded = random.Random(99)
    monkeypatch.setattr(os, "urandom", seeded.randbytes)  # the subject keys
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.5)  # segment ids, key and checkpoint times
    rnd = random.Random(7)
    w = writer(tmp, handover)
    sh = w._shipper
    workload(w, rnd, 260, "a", 0)
    handed = len(w.spool.handed)
    if handover:
        assert 0 < handed <= handover
    if fail_once:  # the sink fails once after the records were taken: replayed from the bytes
        build, calls = sh.build, itertools.count()

        def failing(*a: Any) -> Any:
            if next(calls) == 1:
                raise RuntimeError("sink down")
            return build(*a)

        sh.build = failing  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            drain(sh)
        sh.fail(RuntimeError("sink down"))
    drain(sh)
    assert not w.spool.handed  # every handed record was taken
    workload(w, rnd, 160, "b", 25)
    sh.step()  # some shipped, the rest (and 25 open begins) die with the process
    w.spool.close()  # kill -9
    w2 = writer(tmp, handover)  # the restart replays the slot from the spool bytes
    workload(w2, rnd, 140, "c", 0)
    drain(w2._shipper)
    w2.close_sync()
    return {"handed": handed, **tables(tmp / "audit.db")}


def test_stored_events_and_chain_are_identical_with_and_without_the_hand_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failed batch moves the later batch boundaries, hence the checkpoints: the runs with
    # a failure are compared with the parsed run that failed at the same point.
    runs = {}
    for name, handover, fail in (("parsed", 0, False), ("handed", 4096, False), ("parsed-failed", 0, True),
                                 ("failed", 4096, True), ("bounded", 9, True)):
        d = tmp_path / name
        d.mkdir()
        with monkeypatch.context() as m:
            runs[name] = golden(d, handover, fail, m)
    base = runs["parsed"]
    assert base["handed"] == runs["parsed-failed"]["handed"] == 0
    assert len(base["events"]) > 500 and len(base["subjects"]) > 300 and base["checkpoints"]
    outcomes = {orjson.loads(r[9])["outcome"] for r in base["events"]}
    assert {"interrupted", "served", "denied"} <= outcomes
    assert runs["bounded"]["handed"] == 9 and runs["handed"]["handed"] > 300
    for name, ref in (("handed", "parsed"), ("failed", "parsed-failed"), ("bounded", "parsed-failed")):
        for t in TABLES:
            assert runs[name][t] == runs[ref][t], (name, t)
    for t in ("events", "subjects", "subject_keys"):  # the failure changes none of these
        assert runs["parsed-failed"][t] == base[t], t


def test_the_table_is_bounded_and_only_holds_accepted_records(tmp_path: Path) -> None:
    s = Spool(tmp_path / "s", fsync_window=0, handover=3, max_bytes=64 << 10, segment_bytes=16 << 10)
    try:
        recs = [["b", i, "x" * 10] for i in range(5)]
        pos = [s.append(orjson.dumps(r, option=NL), True, r) for r in recs]
        assert len(s.handed) == 3 and all(s.handed[p] is r for p, r in zip(pos[:3], recs[:3], strict=True))
        s.handed.clear()
        big = ["c", 1, "y" * _HAND_BYTES]
        assert s.append(orjson.dumps(big, option=NL), False, big) is not None and not s.handed  # too large
        assert s.append(b'["c"]\n', False) is not None and not s.handed  # no record given
        s.used = s.max_bytes + (1 << 20)  # full: a begin is refused, and not handed over either
        assert s.append(b'["b"]\n', True, ["b"]) is None and not s.handed
        s.used -= 1 << 20
        assert s.append(b'["c"]\n', False, ["c"]) is not None and len(s.handed) == 1
    finally:
        s.close()
    assert not s.handed  # closing drops what the writer did not take


def test_a_stalled_writer_leaves_the_table_at_its_bound_and_the_records_in_the_spool(tmp_path: Path) -> None:
    tmp_path = tmp_path / "w"
    tmp_path.mkdir()
    w = writer(tmp_path, 50)
    rnd = random.Random(3)
    workload(w, rnd, 400, "s", 0)  # nobody reads: the sink is down, the writer waits
    assert len(w.spool.handed) == 50
    drain(w._shipper)  # the sink is back: the first 50 are taken, the rest parsed
    assert not w.spool.handed
    con = sqlite3.connect(tmp_path / "audit.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == 400
    finally:
        con.close()
    w.close_sync()
