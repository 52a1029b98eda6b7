import asyncio
import itertools
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cpragate.audit.keys import load_signing_key
from cpragate.filters.audit.config import AuditConfig
from cpragate.storage.audit_sink import SearchQuery, open_sink
from cpragate.storage.audit_spool import Spool
from cpragate.storage.audit_writer import AuditWriter, WriterOptions, _Shipper, open_audit

MASTER = b"m" * 32


def writer(tmp: Path, sink_url: str | None = None, **kw: Any) -> AuditWriter:
    spool = Spool(tmp / "spool", fsync_window=0, **kw)
    opts = WriterOptions(sink_url=sink_url or f"sqlite:///{tmp}/audit.db", instance_prefix="t", checkpoint_every=5)
    return AuditWriter(spool, MASTER, load_signing_key(None, tmp / "k.pem"), opts)


def begin(w: AuditWriter, rid: str, subject: str = "42") -> int | None:
    lk = w.lookup(subject)
    rec = ["b", time.time(), rid, "GET", "/c/{id}", "c", [["id", lk]], [lk], "acme", "api_key", "third_party", "10.0.0.1", True]
    return asyncio.run(w.begin(rec))


def complete(w: AuditWriter, pos: int | None, status: int = 200) -> None:
    asyncio.run(w.complete(["c", pos, time.time(), status, "served", None, [], None, None, 1, 2, 0.5]))


def events(tmp: Path) -> list[dict[str, Any]]:
    s = open_sink(f"sqlite:///{tmp}/audit.db")
    try:
        return [orjson.loads(b) for b in s.search(SearchQuery(limit=10_000, newest_first=False))]
    finally:
        s.close()


def drain(w: AuditWriter) -> _Shipper:
    sh = w._shipper
    while sh.step():
        pass
    return sh


def test_pairs_begin_and_completion_into_one_chained_event(tmp_path: Path) -> None:
    w = writer(tmp_path)
    complete(w, begin(w, "r1"))
    complete(w, begin(w, "r2"), 404)
    sh = drain(w)
    evs = events(tmp_path)
    assert [(e["id"], e["status"], e["seq"], e["instance"]) for e in evs] == [("r1", 200, 1, "t-0"), ("r2", 404, 2, "t-0")]
    assert evs[0]["subjects"] == evs[1]["subjects"] and evs[0]["subjects"][0].startswith("s_")
    # the subject id is replaced by its pseudonym (a random hex pseudonym may contain "42")
    assert evs[0]["path"] == "/c/" + evs[0]["subjects"][0]
    assert sh.head_seq == 2
    w.close_sync()


def test_crash_replay_is_exactly_once_and_open_begins_become_interrupted(tmp_path: Path) -> None:
    w = writer(tmp_path)
    for i in range(5):
        complete(w, begin(w, f"a{i}"))
    drain(w)  # shipped...
    begin(w, "open")  # forwarded upstream, then the process dies
    for i in range(3):
        complete(w, begin(w, f"b{i}"))
    sh = w._shipper
    sh.step()  # ships b0..b2; low_pos stays at the open begin
    w.spool.close()  # kill -9: no clean stop, the writer never saw a completion for "open"
    w2 = writer(tmp_path)  # the restarted process replays the same slot
    assert w2.spool.slot == 0
    complete(w2, begin(w2, "new"))
    drain(w2)
    got = [(e["id"], e["outcome"]) for e in events(tmp_path)]
    assert sorted(got) == sorted([(f"a{i}", "served") for i in range(5)] + [(f"b{i}", "served") for i in range(3)]
                                 + [("open", "interrupted"), ("new", "served")])
    w2.close_sync()


def test_sink_outage_keeps_events_in_the_spool(tmp_path: Path) -> None:
    bad = writer(tmp_path, sink_url=f"sqlite:///{tmp_path}/no/such/dir/\x00/audit.db")
    complete(bad, begin(bad, "r1"))
    with pytest.raises(Exception):
        bad._shipper.step()
    bad._shipper.fail(RuntimeError("down"))
    assert not bad._shipper.sink_ok
    bad.spool.close()
    w = writer(tmp_path)  # the sink is back
    drain(w)
    assert [e["id"] for e in events(tmp_path)] == ["r1"]
    w.close_sync()


def test_single_events_and_unknown_records(tmp_path: Path) -> None:
    w = writer(tmp_path)
    b = ["b", time.time(), "deny1", "GET", None, None, [], [], None, None, None, "10.0.0.2", False]
    c = ["c", None, time.time(), 404, "denied", "CPG-ROUTE-001", [["gateway", "deny", "routing"]], None, None, 0, 120, 0.1]
    assert asyncio.run(w.event(["e", b, c]))
    w.spool.append(b"not json\n", False)
    drain(w)
    (ev,) = events(tmp_path)
    assert (ev["id"], ev["decision"], ev["rule"], ev["error"]) == ("deny1", "deny", "gateway:routing", "CPG-ROUTE-001")
    w.close_sync()


def test_events_without_reserve_are_refused_at_max_bytes_and_leave_the_reserve_to_completions(tmp_path: Path) -> None:
    w = writer(tmp_path, max_bytes=64 * 1024, segment_bytes=16 * 1024)
    b = ["b", time.time(), "adm-1", "POST", "/api/detokenize", "admin.detokenize", [], [], "ops", "admin_key", None,
         "10.0.0.2", True]
    c = ["c", None, time.time(), 403, "denied", "CPG-ADM-003", [["admin", "deny", "detokenize"]], None, None, 0, 120, 0.1]
    n = 0
    while asyncio.run(w.event(["e", b, c], reserve=False)):
        n += 1
        assert n < 10_000
    assert w.spool.used - w.spool.cur.size + w.spool.off <= 64 * 1024  # type: ignore[union-attr]  # never past max_bytes
    assert asyncio.run(w.event(["e", b, c]))  # a data-plane event still has the reserve
    complete(w, 1)  # and so has a completion
    assert w.spool.dropped == 0
    w.close_sync()


def test_open_audit_runs_the_writer_thread_and_checkpoints_on_stop(tmp_path: Path) -> None:
    cfg = AuditConfig(enabled=True, instance_id="gwx", spool={"fsync_window_ms": 5})

    async def main() -> None:
        w = open_audit(cfg, tmp_path)
        for i in range(20):
            pos = await w.begin(["b", time.time(), f"r{i}", "GET", "/x", "x", [], [], None, None, None, "1.1.1.1", False])
            await w.complete(["c", pos, time.time(), 200, "served", None, [], None, None, 0, 0, 1.0])
        await w.aclose()
        assert w.stats["shipped"] == 20

    asyncio.run(main())
    s = open_sink(f"sqlite:///{tmp_path}/audit.db")
    try:
        assert s.state("gwx-0").head_seq == 20
        assert s.checkpoints("gwx-0")[-1].seq == 20
    finally:
        s.close()
    assert (tmp_path / "audit-signing-key.pem").exists() and (tmp_path / "audit-pseudonym.key").exists()


def test_replay_does_not_repeat_a_completion_whose_begin_precedes_the_low_water_mark(tmp_path: Path) -> None:
    w = writer(tmp_path)
    p1 = begin(w, "done")
    begin(w, "open")  # still open at the commit: low_pos stays here, after "done"'s begin
    complete(w, p1)
    drain(w)
    w.spool.close()  # crash
    w2 = writer(tmp_path)
    drain(w2)
    assert sorted((e["id"], e["outcome"]) for e in events(tmp_path)) == [("done", "served"), ("open", "interrupted")]
    w2.close_sync()


def test_stored_bodies_are_canonical_and_chain_like_link_hash(tmp_path: Path) -> None:
    """The writer serializes without sorting the top level (built in sorted order) and
    hashes inline: the stored bytes must still be exactly canonical() and link_hash()."""
    from cpragate.audit.chain import link_hash
    from cpragate.audit.events import GENESIS, canonical

    w = writer(tmp_path)
    lk = w.lookup("7")
    ann = {"validation": {"violations": [["/b", "type"]], "outcome": "invalid"},
           "pii": {"entities": {"US_SSN": 1, "EMAIL": 2}, "categories": {"z": 1, "a": 2}, "spi": 1}}
    pos = asyncio.run(w.begin(["b", time.time(), "r1", "GET", "/c/{id}", "c", [["id", lk]], [lk], "ä", "jwt", "p",
                               "10.0.0.1", True]))
    asyncio.run(w.complete(["c", pos, time.time(), 422, "denied", "CPG-V", [["validation", "deny", "type"]], ann, [lk],
                            1, 2, 0.5]))
    complete(w, begin(w, "r2"))
    drain(w)
    s = open_sink(f"sqlite:///{tmp_path}/audit.db")
    try:
        rows = list(s.chain("t-0"))
    finally:
        s.close()
    prev = GENESIS
    for seq, p, h, body in rows:
        assert canonical(orjson.loads(body)) == body
        assert p == prev and h == link_hash(prev, "t-0", seq, body)
        prev = h
    assert orjson.loads(rows[0][3])["checks"] == {"validation": ann["validation"]}
    w.close_sync()


def test_the_writer_ships_a_trickle_within_ship_wait_and_a_flow_at_once(tmp_path: Path) -> None:
    import threading

    spool = Spool(tmp_path / "spool", fsync_window=0)
    opts = WriterOptions(sink_url=f"sqlite:///{tmp_path}/audit.db", instance_prefix="t", ship_interval=0.01,
                         ship_wait=0.3, ship_bytes=2048)
    w = AuditWriter(spool, MASTER, load_signing_key(None, tmp_path / "k.pem"), opts)
    sh = w._shipper
    sh.step()  # recovered, nothing to ship
    done = threading.Event()
    took: list[float] = []

    def wait() -> None:
        t0 = time.monotonic()
        sh.wait_for_records()
        took.append(time.monotonic() - t0)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert not done.wait(0.4)  # nothing spooled: it keeps waiting
    complete(w, begin(w, "r1"))
    assert done.wait(2) and 0.3 <= took[0] < 1.5  # one event waits about ship_wait
    assert sh.step() == 2
    done.clear()
    threading.Thread(target=wait, daemon=True).start()
    for i in range(20):  # ~6 KB: shipped at the next look, not after ship_wait
        complete(w, begin(w, f"f{i}"))
    assert done.wait(2) and took[1] < 0.3
    sh.stop.set()
    w.close_sync()


# --- the in-process hand-over (audit_spool.py ``Spool.handed``): the writer takes the records
# the event loop built instead of parsing their bytes again, and stores exactly what it
# stores without it; the table stays bounded.

NL = orjson.OPT_APPEND_NEWLINE
HO_MASTER = b"k" * 32
TABLES = ("events", "subjects", "subject_keys", "instances", "checkpoints")


def ho_writer(tmp: Path, handover: int) -> AuditWriter:
    """A writer on ``tmp`` (its signing key beside it: shared by the golden runs)."""
    spool = Spool(tmp / "spool", fsync_window=0, segment_bytes=64 << 10, handover=handover)
    opts = WriterOptions(sink_url=f"sqlite:///{tmp}/audit.db", instance_prefix="g", checkpoint_every=97, batch=150)
    return AuditWriter(spool, HO_MASTER, load_signing_key(None, tmp.parent / "k.pem"), opts)


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


def drain_all(sh: _Shipper) -> None:
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
    w = ho_writer(tmp, handover)
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
            drain_all(sh)
        sh.fail(RuntimeError("sink down"))
    drain_all(sh)
    assert not w.spool.handed  # every handed record was taken
    workload(w, rnd, 160, "b", 25)
    sh.step()  # some shipped, the rest (and 25 open begins) die with the process
    w.spool.close()  # kill -9
    w2 = ho_writer(tmp, handover)  # the restart replays the slot from the spool bytes
    workload(w2, rnd, 140, "c", 0)
    drain_all(w2._shipper)
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


def test_a_stalled_writer_leaves_the_table_at_its_bound_and_the_records_in_the_spool(tmp_path: Path) -> None:
    tmp_path = tmp_path / "w"
    tmp_path.mkdir()
    w = ho_writer(tmp_path, 50)
    rnd = random.Random(3)
    workload(w, rnd, 400, "s", 0)  # nobody reads: the sink is down, the writer waits
    assert len(w.spool.handed) == 50
    drain_all(w._shipper)  # the sink is back: the first 50 are taken, the rest parsed
    assert not w.spool.handed
    con = sqlite3.connect(tmp_path / "audit.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == 400
    finally:
        con.close()
    w.close_sync()
