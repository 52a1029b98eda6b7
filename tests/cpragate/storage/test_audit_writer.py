import asyncio
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
