"""The audit rows in C (cpragate.audit._cevents) are its Python twin's (events._build_rows_py):
the same rows, field for field and type for type, body bytes and chain hashes included, or
the same exception, on demo-like, random and odd records, batches mixing events the C takes
and events it leaves to the Python."""

from __future__ import annotations

import gc
import math
import os
import random
import struct
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from cpragate.audit import events
from cpragate.audit.events import GENESIS, _build_rows_py, lookup, pseudonym
from cpragate.storage.audit_sink import EventRow as Row

K = b"m" * 32
_Build = Callable[[list[tuple[int, Any, Any]], dict[str, tuple[str, float]], str, str, int, type], list[Any]]


def _native() -> _Build:
    native = events._NATIVE_ROWS
    if native is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.audit._cevents is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.audit._cevents not built here (make install builds it)")
    return native


def _outcome(build: _Build, todo: list[tuple[int, Any, Any]], cache: dict[str, tuple[str, float]], inst: str = "g-0",
             prev: str = GENESIS, seq: int = 40) -> list[tuple[Any, ...]] | type[BaseException]:
    """The rows as (type, fields with their types), or the exception's type."""
    try:
        rows = build(todo, cache, inst, prev, seq, Row)
    except Exception as e:  # the type is what is compared
        return type(e)
    return [(type(r), tuple((type(v), v) for v in r)) for r in rows]


def _same(todo: list[tuple[int, Any, Any]], cache: dict[str, tuple[str, float]], **kw: Any) -> None:
    native = _native()
    want = _outcome(_build_rows_py, todo, cache, **kw)
    got = _outcome(native, todo, cache, **kw)
    if want != got:  # the first differing field, not the records (they may hold odd values)
        if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
            for i, (w, g) in enumerate(zip(want, got, strict=True)):
                for name, wf, gf in zip(Row._fields, w[1], g[1], strict=True):
                    assert wf == gf, (i, name)
        raise AssertionError(f"python {want if not isinstance(want, list) else len(want)} rows, "
                             f"C {got if not isinstance(got, list) else len(got)}")


LKS = [lookup(K, str(i)) for i in range(8)]
CACHE: dict[str, tuple[str, float]] = {lk: (pseudonym(b"k" * 32, lk), 0.0) for lk in LKS[:4]}
CACHE[LKS[4]] = ("", 0.0)  # an empty pseudonym: the path shows the parameter's token
CACHE[LKS[5]] = ("s_{oid}é", 0.0)  # a pseudonym a later parameter's replacement matches


def _demo(i: int, t: float, lk: str) -> tuple[int, list[Any], list[Any]]:
    """A begin + completion as the gateway's audit fast path records them (bench/audit_bench.py)."""
    b = ["b", t, f"r{i}", "GET", "/v1/customers/{id}", "get-customer", [["id", lk]], [lk], "acme", "api_key",
         "service_provider", "10.0.0.1", True]
    ann = {"pii": {"categories": {"identifiers": 3, "customer_records": 2}, "entities": {"EMAIL": 1, "US_SSN": 1},
                   "spi": 1, "actions": {"mask": 1, "allow": 4}},
           "validation": {"outcome": "invalid", "violations": [["/b", "type"]], "stripped": []}}
    c = ["c", 2 * i, t + 0.002, 200, "served", None, [["pii", "annotate", "found=5"], ["authz", "allow", "scope"]],
         ann, None, 0, 812, math.floor(1.2345 * 1_000_000.0 + 0.5) / 1000.0]
    return (2 * i + 1, b, c)


def test_demo_batches_are_the_pythons() -> None:
    rnd = random.Random(1)
    t = 1_767_225_600.0
    todo = []
    for i in range(300):
        t += rnd.random() * 0.01
        todo.append(_demo(i, t, rnd.choice(LKS)))
    _same(todo, CACHE)
    _same(todo, CACHE, inst="gw-1 ☃ \"q\"\n", prev="f" * 64, seq=0)


def test_the_c_takes_the_demo_records_itself() -> None:
    """The demo's records never go to the Python twin (else the C would only add work)."""
    native = _native()
    from cpragate.audit import _cevents

    calls: list[int] = []

    def slow(*args: Any) -> list[Any]:
        calls.append(1)
        return _build_rows_py(*args)

    sha = events.openssl_sha256()
    _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest, slow, *sha)
    try:
        todo = [_demo(i, 1_767_225_600.0 + i / 7, LKS[i % 4]) for i in range(50)]
        rows = native(todo, CACHE, "g-0", GENESIS, 0, Row)
        interrupted = native([(1, todo[0][1], None)], CACHE, "g-0", GENESIS, 0, Row)
    finally:
        _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest,
                       _build_rows_py, *sha)
    assert not calls and len(rows) == 50 and interrupted[0].outcome == "interrupted"
    assert rows == _build_rows_py(todo, CACHE, "g-0", GENESIS, 0, Row)
    # rows of atoms (and a tuple of str) are not left for the cyclic GC to walk
    assert not any(gc.is_tracked(r) or gc.is_tracked(r.subjects) for r in rows)


_STRS = ["", "acme", 'q"uote\\back/slash', "ctl\x00\x1f\n\t\x7f\x08\x0c\r", "Zoë ☃ 𝄞", "\u2028\u2029", "a" * 70, "{id}",
         "{oid}", "é{id}", "\ud800lone", "ÿ\x80", "\uffff", "\U0010ffff"]


class _S(str):
    pass


class _D(dict):  # type: ignore[type-arg]
    pass


class _I(int):
    pass


def _odd(rnd: random.Random, depth: int = 0) -> object:
    """Any value a record may hold (records parsed from a spool are any JSON; handed-over
    ones the event loop's objects), odd ones included."""
    k = rnd.randrange(18)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False])
    if k == 2:
        return rnd.choice([0, -1, 7, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 812, 10**12, _I(5)])
    if k == 3:
        return _float(rnd)
    if k in (4, 5, 6, 7):
        return rnd.choice(_STRS)
    if k in (8, 9) and depth < 3:
        return [_odd(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if k == 10 and depth < 3:
        return tuple(_odd(rnd, depth + 1) for _ in range(rnd.randrange(3)))
    if k in (11, 12) and depth < 3:
        keys = [*_STRS, "z", "b", "a", "B", "é", "\U0001f600", "ab", "a\x00"]
        return {rnd.choice(keys): _odd(rnd, depth + 1) for _ in range(rnd.randrange(5))}
    if k == 13:
        return rnd.choice([_S("sub"), _D(a=1), {1: "x"}, {"a": {2}}, b"bytes", {"a": float("nan")}])
    return rnd.choice(_STRS)


def _float(rnd: random.Random) -> float:
    k = rnd.randrange(7)
    if k == 0:  # whole thousandths (timestamps, durations): the C writes these itself
        return rnd.randrange(-(10**15) + 1, 10**15) / 1000.0
    if k == 1:
        return math.floor(rnd.random() * float(10 ** rnd.randrange(0, 10)) * 1_000_000.0 + 0.5) / 1000.0
    if k == 2:  # any double
        x: float = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        return x
    if k == 3:
        return float(rnd.choice([0.0, -0.0, 0.1 + 0.2, 1e-7, 1e-5, 1e-4, 1e15, 1e16, 999_999_999_999.999, 1e12, -1e12,
                           5e-324, float("nan"), float("inf"), -float("inf"), 0.0005, 0.001, -0.001]))
    if k == 4:
        return rnd.uniform(-1e13, 1e13)
    if k == 5:
        return rnd.random() * float(10 ** rnd.randrange(-6, 17))
    return round(rnd.uniform(0, 2e9), rnd.randrange(0, 6))


def _records(rnd: random.Random, i: int, odd: float = 0.15) -> tuple[int, Any, Any]:
    """An event's records: the usual values, each replaced by an odd one with probability ``odd``."""

    def pick(*choices: object) -> object:
        return rnd.choice(choices) if rnd.random() >= odd else _odd(rnd)

    wide = odd >= 0.05  # else mostly the shapes the C takes itself (what it writes is varied)
    lks = [*LKS, "x" * 40, "ünï", "~" * 20]
    params = [[rnd.choice(["id", "oid", "é", "{x}"]), rnd.choice(lks)] for _ in range(rnd.randrange(4))]
    if wide and rnd.random() < 0.05:
        params = rnd.choice([[("id", LKS[0])], [["id"]], [[7, LKS[0]]], [["id", 7]], "x", None])  # type: ignore[list-item]
    times = (1_767_225_600.0 + i / 7, rnd.uniform(0, 8e9), _float(rnd), 1_767_225_600) if wide else (
        1_767_225_600.0 + i / 7, rnd.uniform(0, 8e9), abs(_float(rnd)) % 8e9)
    b = ["b", pick(*times),
         pick(f"r{i}", 'r"1', "é\n"), pick("GET", "POST"),
         pick("/v1/customers/{id}/orders/{oid}", "/v1/c/{id}", "/{é}/{id}{id}", "", None, "/v1/x"),
         pick("co", None), params, [rnd.choice(lks) for _ in range(rnd.randrange(4))] if not wide or rnd.random() < 0.95
         else pick(None, (LKS[0],), [LKS[0], 5]),
         pick("acme", "Zoë ☃", None), pick("api_key", "jwt", None), pick("service_provider", None),
         pick("10.0.0.1", "::1"), pick(True, False, None)]
    ann: object = pick(None, {"pii": {"entities": {"US_SSN": 1, "EMAIL": 2}, "categories": {"z": 1, "a": 2, "é": 3},
                                      "spi": 1, "actions": {"mask": 1}}},
                       {"validation": {"violations": [["/b", "type"]], "outcome": "invalid", "stripped": []},
                        "pii": None},
                       {"minimize": {"rule": "r", "response_removed": {"/z": 1, "/a": 2, "/\U0001f600": 3, "/\uffff": 4}},
                        "conformance": {}},
                       {"pii": {"spi": 0}}, {}, {"pii": _odd(rnd), "z": _odd(rnd), "a": _odd(rnd)})
    decisions = [["authz", "deny", "scope"], ["pii", "annotate", "found=3"], ["x", "error", ""], ["authn", "allow", ""],
                 ["é", "deny", ""], ["v", 7, None], ["authn", "allow"], ("a", "deny", "r")]
    ds = [rnd.choice(decisions[:5] if not wide or rnd.random() < 0.9 else decisions) for _ in range(rnd.randrange(4))]
    c = ["c", 0, pick(1_767_225_600.2 + i, None, _float(rnd)),
         pick(200, 422, None, 599, True, _I(200)) if wide else pick(200, 422, None, 599),
         pick("served", "denied", "error", "interrupted", "", 5), pick(None, "CPG-AUD-005"),
         ds if not wide or rnd.random() < 0.95 else pick(None, (), [["a", "deny", "r"]] * 70), ann,
         pick(None, [], [rnd.choice(lks), 7], [rnd.choice(lks)]) if wide else pick(None, []),
         pick(0, 812, 2**40, None), pick(812, 0), pick(1.2, 0.1 + 0.2, None, 3, _float(rnd), _float(rnd))]
    if wide and rnd.random() < 0.03:
        b = rnd.choice([b[:12], [], None, tuple(b), [*b, "extra"]])  # type: ignore[list-item]
    if wide and rnd.random() < 0.03:
        c = rnd.choice([c[:11], tuple(c), [*c, "extra"]])  # type: ignore[list-item]
    kind = rnd.randrange(8)
    return (i, b if kind else None, None if kind == 1 else c)


@pytest.mark.parametrize("seed", range(6))
def test_random_and_odd_records_one_at_a_time(seed: int) -> None:
    rnd = random.Random(seed)
    for i in range(1500):
        _same([_records(rnd, i, 0.15 if seed % 2 else 0.01)], CACHE)


@pytest.mark.parametrize("seed", range(4))
def test_random_batches_chain_across_c_and_python_events(seed: int) -> None:
    """Events the C takes and events it leaves to the Python, in one batch: one chain."""
    rnd = random.Random(100 + seed)
    for n in range(60):
        todo = [_records(rnd, i) for i in range(rnd.randrange(1, 30))]
        if rnd.random() < 0.5:
            todo[rnd.randrange(len(todo))] = _demo(n, 1_767_225_600.5, LKS[0])
        _same(todo, CACHE, seq=rnd.choice([0, 41, 2**40]))


def test_floats_are_orjsons() -> None:
    """latency_ms (any float) and t (round(t, 3)) as orjson writes them: whole thousandths
    written by the C, near-ties of the rounding, every magnitude, the non-finite ones."""
    rnd = random.Random(3)
    for i in range(6000):
        x = _float(rnd)
        t = rnd.choice([x, abs(x), (rnd.randrange(0, 8 * 10**12) + 0.5) / 1000.0,
                        (rnd.randrange(0, 8 * 10**12) + rnd.choice([0.4999, 0.5001, 0.5])) / 1000.0,
                        math.nextafter(rnd.randrange(0, 8 * 10**9) + 0.0005, math.inf)])
        b = ["b", t, "r", "GET", "/a", "a", [], [], "acme", None, None, "::1", False]
        c = ["c", 0, None, 200, "served", None, [], None, None, 0, 0, x]
        _same([(i, b, c)], CACHE)
        if 0 <= t < 8e9:  # else iso() refuses the year
            row = _native()([(i, b, c)], CACHE, "g", GENESIS, 0, Row)[0]
            assert row.body.split(b'"latency_ms":')[1].split(b',"method"')[0] == orjson.dumps(x), i
            assert row.body.split(b'"t":')[1].split(b',"ts"')[0] == orjson.dumps(round(t, 3)), i


def test_subject_keys_and_iso_seconds_across_calls() -> None:
    """The C's remembered second (iso) and every subject-cache shape: hit, miss, empty
    pseudonym, a pseudonym a later parameter's replacement matches, odd cache values."""
    cache: dict[str, Any] = dict(CACHE)
    cache[LKS[6]] = ["s_list", 0.0]  # not a tuple: the Python decides
    cache[LKS[7]] = (7, 0.0)
    b = ["b", 0.0, "r", "GET", "/{id}/{oid}/{id}", "a", [["id", LKS[5]], ["oid", LKS[4]]], [LKS[5], LKS[4], LKS[5]],
         "acme", None, None, "::1", True]
    for t in (1_767_225_599.9995, 1_767_225_600.0, 1_767_225_600.0004, 0.0, 1e-9, 253_402_300_799.9, 7_999_999_999.999):
        for lk in LKS:
            b2 = list(b)
            b2[1] = t
            b2[7] = [lk, *b[7]]  # type: ignore[misc]
            _same([(1, b2, None)], cache)


def test_odd_arguments_are_the_pythons() -> None:
    todo = [_demo(0, 1_767_225_600.0, LKS[0])]
    for args in (("g\ud800", GENESIS, 1), ("g", "é" * 64, 1), ("g", GENESIS, 2**63), ("g", GENESIS, -5),
                 (5, GENESIS, 1), ("g", GENESIS, True)):
        inst, prev, seq = args
        _same(todo, CACHE, inst=inst, prev=prev, seq=seq)
    _same(tuple(todo), CACHE)  # type: ignore[arg-type]
    _same(todo, _D(CACHE))
    _same([], CACHE)


def test_the_openssl_one_shot_and_hashlib_hash_alike() -> None:
    """The chain hash by OpenSSL's SHA256_* (when events.openssl_sha256 finds them) or by
    hashlib: the same rows either way, and the Python's."""
    native = _native()
    from cpragate.audit import _cevents

    rnd = random.Random(8)
    todo = [_demo(i, 1_767_225_600.0, LKS[1]) for i in range(20)]
    for i in range(300):
        item = _records(rnd, i, 0.01)
        if isinstance(_outcome(_build_rows_py, [item], CACHE), list):  # not one the Python refuses
            todo.append(item)
    want = _build_rows_py(todo, CACHE, "g-0", GENESIS, 0, Row)
    args = (events._dumps, events._sha256, type(events._sha256(b"")).hexdigest, _build_rows_py)
    sha = events.openssl_sha256()
    try:
        assert _cevents.setup(*args, 0, 0, 0) is False
        assert native(todo, CACHE, "g-0", GENESIS, 0, Row) == want
    finally:
        assert _cevents.setup(*args, *sha) is all(sha)
    assert native(todo, CACHE, "g-0", GENESIS, 0, Row) == want


def _params_outcome(fn: Callable[[list[Any], str], Any], rows: list[Any], inst: str) -> object:
    out = fn(rows, inst)
    if out is None or out is NotImplemented:
        return out
    return [[(type(v), v) for v in part] for part in out]


def test_sqlite_params_are_the_pythons() -> None:
    """The SQLite sink's parameter lists in C (events.sqlite_params) are _sqlite_params_py's,
    type for type (bodies as bytearray), for the writer's rows and for odd ones."""
    _native()
    from cpragate.audit import _cevents

    rnd = random.Random(12)
    todo = [_demo(i, 1_767_225_600.0 + i, LKS[i % 6]) for i in range(40)]
    for i in range(200):
        item = _records(rnd, i, 0.01)
        if isinstance(_outcome(_build_rows_py, [item], CACHE), list):
            todo.append(item)
    rows = _build_rows_py(todo, CACHE, "g-0", GENESIS, 0, Row)
    assert any(len(r.subjects) > 1 for r in rows) and any(not r.subjects for r in rows)
    for part in (rows, rows[:1], [], rows[5:60]):
        want = _params_outcome(events._sqlite_params_py, part, "g-0")
        assert _params_outcome(_cevents.sqlite_params, part, "g-0") == want
        assert _params_outcome(events.sqlite_params, part, "g-0") == want
    other = [*rows[:3], rows[3]._replace(instance="g-1")]
    assert _cevents.sqlite_params(other, "g-0") is None and events._sqlite_params_py(other, "g-0") is None
    for odd in (rows[0]._replace(subjects=["s_a"]), rows[0]._replace(body=bytearray(b"{}")),
                rows[0]._replace(instance=None), tuple(rows[0])[:12]):
        assert _cevents.sqlite_params([rows[1], odd], "g-0") is NotImplemented
        assert _params_outcome(events.sqlite_params, [rows[1], odd], "g-0") == _params_outcome(
            events._sqlite_params_py, [rows[1], odd], "g-0")


def test_threads_building_rows_at_once_get_their_own_rows() -> None:
    """Each call has its own buffers: with hashlib (which releases the GIL while hashing
    over 2 KiB) two threads building long events at once get the Python's rows each."""
    native = _native()
    import threading

    from cpragate.audit import _cevents

    def batch(k: int) -> list[tuple[int, Any, Any]]:
        todo = [_demo(i, 1_767_225_600.0 + k + i, LKS[(i + k) % 6]) for i in range(150)]
        for _, _b, c in todo:
            c[7]["validation"]["violations"] = [[f"/t{k}/{j}", "type"] for j in range(120)]
        return todo

    todos = [batch(k) for k in range(2)]
    want = [_build_rows_py(t, CACHE, f"g-{k}", GENESIS, 0, Row) for k, t in enumerate(todos)]
    assert all(len(r.body) > 2048 for r in want[0])
    got: list[list[Any]] = [[], []]
    args = (events._dumps, events._sha256, type(events._sha256(b"")).hexdigest, _build_rows_py)
    _cevents.setup(*args, 0, 0, 0)
    try:
        threads = [threading.Thread(target=lambda k=k: got[k].extend(
            native(todos[k], CACHE, f"g-{k}", GENESIS, 0, Row))) for k in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        _cevents.setup(*args, *events.openssl_sha256())
    assert got == want


def _with_slow(slow: Callable[..., list[Any]]) -> Any:
    """_cevents.setup with another Python twin, restored on exit."""
    import contextlib

    from cpragate.audit import _cevents

    sha = events.openssl_sha256()

    @contextlib.contextmanager
    def cm() -> Any:
        _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest, slow, *sha)
        try:
            yield _cevents
        finally:
            _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest,
                           _build_rows_py, *sha)

    return cm()


def test_values_orjson_would_call_python_for_go_to_the_twin_and_nested_plain_ones_do_not() -> None:
    """orjson runs Python code for some types (an Enum's value, a tzinfo's utcoffset, a
    dataclass's fields); the C holds borrowed references while it writes, so such an event
    is the twin's, nested or at the top level. Nested plain values (dicts of dicts, lists)
    are written by the C itself."""
    import datetime
    import enum

    native = _native()

    class Color(enum.Enum):
        RED = "red"

    class Sub(dict):  # type: ignore[type-arg]
        pass

    calls: list[int] = []

    def slow(*args: Any) -> list[Any]:
        calls.append(1)
        return _build_rows_py(*args)

    t = 1_767_225_600.0
    odd: list[Any] = [Color.RED, Sub(a=1), datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC), [Color.RED]]
    with _with_slow(slow):
        for v in odd:
            i, b, c = _demo(0, t, LKS[0])
            c[7] = {**c[7], "minimize": {"rule": "r", "request_removed": {}, "response_removed": {"x": v}}}
            calls.clear()
            got = native([(i, b, c)], CACHE, "g-0", GENESIS, 0, Row)
            assert calls == [1] and got == _build_rows_py([(i, b, c)], CACHE, "g-0", GENESIS, 0, Row)
        for v in (Color.RED, Sub(a=1)):  # at the top level: bytes_out
            i, b, c = _demo(0, t, LKS[0])
            c[10] = v
            calls.clear()
            assert _outcome(native, [(i, b, c)], CACHE) == _outcome(_build_rows_py, [(i, b, c)], CACHE)
            assert calls == [1]
        i, b, c = _demo(0, t, LKS[0])
        c[7] = {**c[7], "minimize": {"rule": "r", "request_removed": {"b": [1, {"z": 2, "a": [None, 1.5]}]},
                                     "response_removed": {}}}
        calls.clear()
        got = native([(i, b, c)], CACHE, "g-0", GENESIS, 0, Row)
        assert calls == [] and got == _build_rows_py([(i, b, c)], CACHE, "g-0", GENESIS, 0, Row)


def test_a_value_whose_serialisation_changes_the_record_cannot_crash_the_writer() -> None:
    """A tzinfo whose utcoffset empties the record while it is written (records are never
    changed once handed over; this one breaks the rule on purpose): the C must not touch
    the freed items (it hands the event to the twin before any Python code runs)."""
    import datetime

    native = _native()
    t = 1_767_225_600.0
    i, b, c = _demo(0, t, LKS[0])

    class Evil(datetime.tzinfo):
        def utcoffset(self, dt: Any) -> datetime.timedelta:
            b.clear()
            c.clear()
            return datetime.timedelta(0)

        def dst(self, dt: Any) -> datetime.timedelta:
            return datetime.timedelta(0)

    c[9] = datetime.datetime(2026, 1, 2, tzinfo=Evil())  # bytes_in
    calls: list[int] = []

    def slow(*args: Any) -> list[Any]:
        calls.append(1)
        return _build_rows_py(*args)

    with _with_slow(slow):
        _outcome(native, [(i, b, c)], CACHE)  # rows or the twin's exception, never a crash
    assert calls == [1]  # the C left the event to the twin before any Python code ran


def test_an_annotation_key_that_is_not_an_exact_str_leaves_the_event_to_the_twin() -> None:
    """A key equal to "pii" but of a str subclass whose __eq__ empties the record: the C
    finds "pii" by walking exact str keys (no hashed lookup that would call __eq__)."""
    native = _native()
    i, b, c = _demo(0, 1_767_225_600.0, LKS[0])

    class K(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            b.clear()
            c.clear()
            return str.__eq__(self, other)

    c[7] = {K("pii"): c[7]["pii"]}
    calls: list[int] = []

    def slow(*args: Any) -> list[Any]:
        calls.append(1)
        return _build_rows_py(*args)

    with _with_slow(slow):
        _outcome(native, [(i, b, c)], CACHE)  # never a crash
    assert calls == [1]


def test_a_malformed_twin_row_is_an_error_without_a_double_free() -> None:
    native = _native()
    bad = ("not", "a", "row")

    def slow(*args: Any) -> list[Any]:
        return [bad]

    before = sys.getrefcount(bad)
    i, b, c = _demo(0, 1_767_225_600.0, LKS[0])
    c[9] = object()  # not plain: the twin's
    with _with_slow(slow):
        for _ in range(3):
            with pytest.raises(TypeError, match="ASCII hash"):
                native([(i, b, c)], CACHE, "g-0", GENESIS, 0, Row)
    assert sys.getrefcount(bad) == before


def test_a_failing_openssl_probe_falls_back_to_hashlib() -> None:
    """OpenSSL's functions are used only when they hash as hashlib does; if they fail, the
    setup falls back to hashlib instead of raising (the trail must start)."""
    import ctypes

    _native()
    from cpragate.audit import _cevents

    init = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(lambda ctx: 0)
    update = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)(lambda c, d, n: 0)
    final = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(lambda md, c: 0)
    addrs = [ctypes.cast(f, ctypes.c_void_p).value or 0 for f in (init, update, final)]
    try:
        assert _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest,
                              _build_rows_py, *addrs) is False  # hashlib chosen
        todo = [_demo(i, 1_767_225_600.0 + i, LKS[i % 4]) for i in range(3)]
        assert events._NATIVE_ROWS is not None
        assert events._NATIVE_ROWS(todo, CACHE, "g-0", GENESIS, 0, Row) == _build_rows_py(todo, CACHE, "g-0", GENESIS, 0, Row)
    finally:
        _cevents.setup(events._dumps, events._sha256, type(events._sha256(b"")).hexdigest,
                       _build_rows_py, *events.openssl_sha256())
